"""Pull requests, their reviews, review comments and commits."""

from __future__ import annotations

import logging
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.gh import VERSION_HEADERS
from app.gh.models import Pull, PullCommit, RepoRef, Review, ReviewComment, read, read_list

log = logging.getLogger(__name__)

GH = GitHub[Any]
PER_PAGE = 100


async def get_pull(gh: GH, repo: RepoRef, number: int) -> Pull:
    """Pull request `number` as GitHub has it now (head SHA, body, fork-ness, author)."""
    return read(Pull, await gh.rest.pulls.async_get(repo.owner, repo.name, number))


async def open_pull_for_branch(gh: GH, repo: RepoRef, branch: str) -> Pull | None:
    """The open pull request whose head is `branch` of this repository (GitHub's `head=owner:branch` filter)."""
    response = await gh.rest.pulls.async_list(repo.owner, repo.name, state="open", head=f"{repo.owner}:{branch}",
                                              per_page=PER_PAGE)
    for pull in read_list(Pull)(response):
        # the filter matches the owner's branch; a fork of the same owner would not be ours
        if not pull.is_fork and pull.head.ref == branch:
            return pull
    return None


async def open_pulls_for_commit(gh: GH, repo: RepoRef, sha: str) -> list[Pull]:
    """Open pull requests whose head is commit `sha` (a deployment names a commit, not a pull request)."""
    found: list[Pull] = []
    async for pull in gh.rest.paginate(
        gh.rest.repos.async_list_pull_requests_associated_with_commit, map_func=read_list(Pull),
        owner=repo.owner, repo=repo.name, commit_sha=sha, per_page=PER_PAGE, headers=VERSION_HEADERS,
    ):
        if pull.is_open and pull.head.sha == sha:
            found.append(pull)
    return found


async def create_pull(gh: GH, repo: RepoRef, *, title: str, head: str, base: str, body: str) -> Pull:
    """Open a pull request from `head` (a branch of this repository) into `base`.

    No `maintainer_can_modify`: it is about fork heads, and a same-repository head is writable anyway.
    """
    return read(Pull, await gh.rest.pulls.async_create(repo.owner, repo.name, title=title, head=head, base=base,
                                                        body=body))


async def update_pull(gh: GH, repo: RepoRef, number: int, *, body: str, title: str | None = None) -> Pull:
    """Replace the pull request's body (and title, when given)."""
    if title is None:
        response = await gh.rest.pulls.async_update(repo.owner, repo.name, number, body=body)
    else:
        response = await gh.rest.pulls.async_update(repo.owner, repo.name, number, body=body, title=title)
    return read(Pull, response)


async def request_reviewer(gh: GH, repo: RepoRef, number: int, login: str) -> bool:
    """Ask `login` for a review; False when GitHub refuses (not a collaborator, the author: 422)."""
    try:
        await gh.rest.pulls.async_request_reviewers(repo.owner, repo.name, number, reviewers=[login])
    except RequestFailed as error:
        if error.response.status_code != 422:
            raise
        log.info("review request refused", extra={"reviewer": login})
        return False
    return True


async def get_review(gh: GH, repo: RepoRef, number: int, review_id: int) -> Review:
    """One review of the pull request."""
    return read(Review, await gh.rest.pulls.async_get_review(repo.owner, repo.name, number, review_id))


async def list_reviews(gh: GH, repo: RepoRef, number: int) -> list[Review]:
    """Every review of the pull request, oldest first."""
    return [review async for review in gh.rest.paginate(
        gh.rest.pulls.async_list_reviews, map_func=read_list(Review), owner=repo.owner, repo=repo.name,
        pull_number=number, per_page=PER_PAGE, headers=VERSION_HEADERS,
    )]


async def review_comments(gh: GH, repo: RepoRef, number: int, review_id: int | None = None) -> list[ReviewComment]:
    """The line comments of one review, or of every review of the pull request."""
    if review_id:
        pages = gh.rest.paginate(
            gh.rest.pulls.async_list_comments_for_review, map_func=read_list(ReviewComment), owner=repo.owner,
            repo=repo.name, pull_number=number, review_id=review_id, per_page=PER_PAGE, headers=VERSION_HEADERS,
        )
    else:
        pages = gh.rest.paginate(
            gh.rest.pulls.async_list_review_comments, map_func=read_list(ReviewComment), owner=repo.owner,
            repo=repo.name, pull_number=number, per_page=PER_PAGE, headers=VERSION_HEADERS,
        )
    return [comment async for comment in pages]


async def list_commits(gh: GH, repo: RepoRef, number: int) -> list[PullCommit]:
    """The pull request's commits, oldest first."""
    return [commit async for commit in gh.rest.paginate(
        gh.rest.pulls.async_list_commits, map_func=read_list(PullCommit), owner=repo.owner, repo=repo.name,
        pull_number=number, per_page=PER_PAGE, headers=VERSION_HEADERS,
    )]


# GitHub offers draft <-> ready only through GraphQL; both mutations answer the same selection.
DRAFT_MUTATIONS = {True: "convertPullRequestToDraft", False: "markPullRequestReadyForReview"}
DRAFT_QUERY = """
mutation SetDraft($id: ID!) {{
  {field}(input: {{pullRequestId: $id}}) {{
    pullRequest {{ id number isDraft }}
  }}
}}
"""


async def set_draft(gh: GH, repo: RepoRef, pull: Pull, draft: bool) -> bool:
    """Mark the pull request as a draft (`draft`) or ready for review; returns the draft state GitHub reports.

    GraphQL errors (unknown node, no permission: HTTP 200 with `errors`) raise githubkit's `GraphQLFailed`,
    HTTP failures `RequestFailed`; the caller decides. `repo` names the pull in logs: the node id is global.
    """
    if not pull.node_id:
        raise ValueError(f"pull request {repo}#{pull.number} has no node_id (read it from the REST API)")
    field = DRAFT_MUTATIONS[draft]
    data = await gh.async_graphql(DRAFT_QUERY.format(field=field), {"id": pull.node_id})
    is_draft = bool(data[field]["pullRequest"]["isDraft"])
    log.info("pull request draft state set", extra={"repo": repo.full_name, "pull": pull.number, "draft": is_draft})
    return is_draft
