"""Pull requests and reviews: state changes, people's actions (reviews, dismissals) and routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .issues import check_body, paginate
from .router import Call, HttpError, Routes, invalid, not_found
from .state import Issue, Pull, Repo, Review, ReviewComment, User, now
from .webhooks import Delivery

if TYPE_CHECKING:
    from .double import GitHubDouble

routes = Routes()
REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


class PullsMixin:
    """Pull request life cycle and reviews."""

    # Methods type `self` as the GitHubDouble this is mixed into, so their bodies are checked against it;
    # mypy accepts only a supertype (or a Protocol) as a self-type, hence `ignore[misc]` on each def.

    def pull_json(self: GitHubDouble, repo: Repo, pull: Pull, full: bool = True) -> dict[str, Any]:  # type: ignore[misc]
        """A PR object with live counts (commits, changed files) from git."""
        fork_repo = None
        if pull.fork:
            fork_repo = self.shapes.repo(repo, full=False)
            owner = self.state.user(pull.fork_owner or "forker")
            fork_repo.update({"fork": True, "owner": self.shapes.user(owner), "full_name": f"{owner.login}/{repo.name}",
                              "id": repo.id + 1, "html_url": f"{self.web_url}/{owner.login}/{repo.name}"})
        data = self.shapes.pull(repo, pull, self.app, fork_repo, full)
        if full:
            base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
            files = repo.git.diff(base, pull.head_sha)
            data.update({"commits": len(repo.git.log(f"{base}..{pull.head_sha}")), "changed_files": len(files),
                         "additions": sum(f.additions for f in files), "deletions": sum(f.deletions for f in files)})
        return data

    def pull(self: GitHubDouble, repo: str, number: int) -> Pull:  # type: ignore[misc]
        """A PR's state."""
        return self.repo(repo).pulls[number]

    def reviews(self: GitHubDouble, repo: str, number: int | None = None) -> list[Review]:  # type: ignore[misc]
        """Reviews of a repository or of one PR."""
        return [rv for rv in self.repo(repo).reviews.values() if number is None or rv.number == number]

    def create_pull(self: GitHubDouble, repo: Repo, head: str, base: str, title: str, body: str | None,  # type: ignore[misc]
                    actor: User, *, fork: bool = False, draft: bool = False, via_app: bool = False,
                    wait: bool = True) -> Pull:
        """Open a PR: `pull_request` `opened`."""
        with self.state.lock:
            head_ref = head.split(":", 1)[-1]
            head_sha = repo.git.rev_parse(f"refs/heads/{head_ref}")
            base_sha = repo.git.rev_parse(f"refs/heads/{base}")
            if head_sha is None or base_sha is None:
                raise HttpError(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head"
                                if head_sha is None else "base", "code": "invalid"}])
            number = repo.next_number()
            issue = Issue(number, self.state.next_id(), title, body, actor, is_pull=True, via_app=via_app)
            pull = Pull(number, self.state.next_id(), head_ref, base, head_sha, base_sha, fork=fork,
                        fork_owner=actor.login if fork else None, draft=draft)
            repo.issues[number] = issue
            repo.pulls[number] = pull
            repo.git.update_ref(f"refs/pull/{number}/head", head_sha)
            payload = {"action": "opened", "number": number, "pull_request": self.pull_json(repo, pull)}
        self.emit("pull_request", repo, actor, payload, wait=wait)
        return pull

    def sync_pull(self: GitHubDouble, repo: Repo, pull: Pull, new_sha: str, pusher: User, *,  # type: ignore[misc]
                  before: str | None = None, wait: bool = True) -> None:
        """The head branch moved: `synchronize` (and stale approvals dismissed when the repo says so)."""
        with self.state.lock:
            before = before or pull.head_sha
            pull.head_sha = new_sha
            repo.git.update_ref(f"refs/pull/{pull.number}/head", new_sha)
            repo.issues[pull.number].updated_at = now()
            payload = {"action": "synchronize", "number": pull.number, "before": before, "after": new_sha,
                       "pull_request": self.pull_json(repo, pull)}
            stale = [rv for rv in repo.reviews.values() if rv.number == pull.number and rv.state == "APPROVED"
                     and rv.commit_id != new_sha] if repo.dismiss_stale_reviews else []
        self.emit("pull_request", repo, pusher, payload, wait=wait)
        for rv in stale:
            # GitHub's automatic dismissal names the pusher as sender
            self.dismiss(repo, rv, pusher, "Dismissed: new commits were pushed.", wait=wait)

    def create_review(self: GitHubDouble, repo: Repo, pull: Pull, actor: User, state: str, body: str = "",  # type: ignore[misc]
                      commit_id: str | None = None, comments: list[dict[str, Any]] | None = None, *,
                      wait: bool = True) -> Review:
        """Submit a review: `pull_request_review` `submitted` (state lower-cased in the payload, as GitHub)."""
        with self.state.lock:
            review = Review(self.state.next_id(), pull.number, actor, state, body or "",
                            commit_id or pull.head_sha)
            repo.reviews[review.id] = review
            for c in comments or []:
                rc = ReviewComment(self.state.next_id(), review.id, pull.number, c["path"], c.get("line"),
                                   c.get("body", ""), actor, review.commit_id, c.get("side", "RIGHT"))
                repo.review_comments[rc.id] = rc
                review.comment_ids.append(rc.id)
            shaped = self.shapes.review(repo, review)
            shaped["state"] = review.state.lower()
            payload = {"action": "submitted", "review": shaped, "pull_request": self.pull_json(repo, pull, full=False)}
        self.emit("pull_request_review", repo, actor, payload, wait=wait)
        return review

    def dismiss(self: GitHubDouble, repo: Repo, review: Review, actor: User, message: str = "", *,  # type: ignore[misc]
                wait: bool = True) -> Delivery | None:
        """Dismiss a review: `pull_request_review` `dismissed`."""
        with self.state.lock:
            review.state = "DISMISSED"
            shaped = self.shapes.review(repo, review)
            shaped["state"] = "dismissed"
            payload = {"action": "dismissed", "review": shaped,
                       "pull_request": self.pull_json(repo, repo.pulls[review.number], full=False)}
        return self.emit("pull_request_review", repo, actor, payload, wait=wait)

    # -- people's actions ------------------------------------------------------------------------
    def open_pull(self: GitHubDouble, repo: str, head: str, base: str | None = None, title: str = "A change",  # type: ignore[misc]
                  body: str = "", by: str = "alice", fork: bool = False, draft: bool = False) -> int:
        """A person opens a PR from `head` (a branch of the repo; `fork=True` marks head.repo as a fork)."""
        r = self.repo(repo)
        return self.create_pull(r, head, base or r.default_branch, title, body, self.state.user(by),
                                fork=fork, draft=draft).number

    def submit_review(self: GitHubDouble, repo: str, pr: int, state: str = "APPROVED", by: str = "alice",  # type: ignore[misc]
                      commit_id: str | None = None, body: str = "",
                      comments: list[dict[str, Any]] | None = None) -> int:
        """A person submits a review (APPROVED | CHANGES_REQUESTED | COMMENTED) -> review id."""
        r = self.repo(repo)
        state = REVIEW_EVENTS.get(state.upper(), state.upper())
        return self.create_review(r, r.pulls[pr], self.state.user(by), state, body, commit_id, comments).id

    def dismiss_review(self: GitHubDouble, repo: str, pr: int, review_id: int, by: str = "alice",  # type: ignore[misc]
                       message: str = "Dismissed") -> Delivery | None:
        """A person dismisses a review."""
        r = self.repo(repo)
        return self.dismiss(r, r.reviews[review_id], self.state.user(by), message)


# -- routes -------------------------------------------------------------------------------------

def _pull(d: GitHubDouble, call: Call) -> tuple[Repo, Pull]:
    repo = d.repo_for(call)
    pull = repo.pulls.get(call.int_param("number"))
    if pull is None:
        raise not_found()
    return repo, pull


@routes.get("/repos/{owner}/{repo}/pulls")
def list_pulls(d: GitHubDouble, call: Call) -> Any:
    """PRs filtered by state, `head=owner:branch` and base, newest first."""
    repo = d.repo_for(call)
    state = call.query.get("state", "open")
    head = call.query.get("head")
    base = call.query.get("base")
    items = []
    for pull in sorted(repo.pulls.values(), key=lambda p: -p.number):
        issue = repo.issues[pull.number]
        owner = pull.fork_owner if pull.fork else repo.owner.login
        if state != "all" and issue.state != state:
            continue
        if head and f"{owner}:{pull.head_ref}".lower() != head.lower() and ":" in head:
            continue
        if head and ":" not in head and pull.head_ref != head:
            continue
        if base and pull.base_ref != base:
            continue
        items.append(d.pull_json(repo, pull, full=False))
    return paginate(d, call, items)


@routes.post("/repos/{owner}/{repo}/pulls")
def create_pull_route(d: GitHubDouble, call: Call) -> Any:
    """Open a PR as the caller (422 when one is already open for the head)."""
    repo = d.repo_for(call)
    data = call.json()
    head, base, title = data.get("head"), data.get("base"), data.get("title")
    if not head or not base:
        raise invalid("head and base are required", "head" if not head else "base", "PullRequest", "missing_field")
    if not title:
        raise invalid("title wasn't supplied", "title", "PullRequest", "missing_field")
    head_ref = str(head).split(":", 1)[-1]
    for p in repo.pulls.values():
        if p.head_ref == head_ref and p.base_ref == base and repo.issues[p.number].state == "open":
            raise invalid(f"A pull request already exists for {repo.owner.login}:{head_ref}.",
                          resource="PullRequest")
    if repo.git.rev_parse(f"refs/heads/{head_ref}") == repo.git.rev_parse(f"refs/heads/{base}"):
        raise invalid(f"No commits between {base} and {head_ref}", resource="PullRequest")
    body = check_body(data.get("body"), "PullRequest")
    pull = d.create_pull(repo, head_ref, base, title, body, call.actor, draft=bool(data.get("draft")),  # type: ignore[arg-type]
                         via_app=call.installation is not None, wait=False)
    return 201, d.pull_json(repo, pull)


@routes.get("/repos/{owner}/{repo}/pulls/{number}")
def get_pull(d: GitHubDouble, call: Call) -> Any:
    """One PR."""
    repo, pull = _pull(d, call)
    return d.pull_json(repo, pull)


@routes.patch("/repos/{owner}/{repo}/pulls/{number}")
def update_pull(d: GitHubDouble, call: Call) -> Any:
    """Edit title/body/state/base."""
    repo, pull = _pull(d, call)
    data = call.json()
    if "base" in data:
        sha = repo.git.rev_parse(f"refs/heads/{data['base']}")
        if sha is None:
            raise invalid("base is invalid", "base", "PullRequest", "invalid")
        pull.base_ref, pull.base_sha = data["base"], sha
    body = check_body(data["body"], "PullRequest") if "body" in data else None
    d.update_issue(repo, repo.issues[pull.number], call.actor, title=data.get("title"), body=body,  # type: ignore[arg-type]
                   state=data.get("state"), wait=False)
    return d.pull_json(repo, pull)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/files")
def pull_files(d: GitHubDouble, call: Call) -> Any:
    """Files changed by a PR (against the merge base)."""
    repo, pull = _pull(d, call)
    base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
    return paginate(d, call, [d.shapes.file_change(repo, f, pull.head_sha) for f in repo.git.diff(base, pull.head_sha)])


@routes.get("/repos/{owner}/{repo}/pulls/{number}/commits")
def pull_commits(d: GitHubDouble, call: Call) -> Any:
    """Commits of a PR, oldest first."""
    repo, pull = _pull(d, call)
    base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
    shas = repo.git.log(f"{base}..{pull.head_sha}")
    return paginate(d, call, [d.shapes.commit(repo, repo.git.read_commit(s), users=d.state.users) for s in shas])


@routes.post("/repos/{owner}/{repo}/pulls/{number}/requested_reviewers")
def request_reviewers(d: GitHubDouble, call: Call) -> Any:
    """Request reviews from people."""
    repo, pull = _pull(d, call)
    for login in call.json().get("reviewers") or []:
        if login.lower() not in d.state.users:
            raise invalid("Reviews may only be requested from collaborators.", resource="PullRequest")
        user = d.state.users[login.lower()]
        if user not in pull.requested_reviewers:
            pull.requested_reviewers.append(user)
    return 201, d.pull_json(repo, pull, full=False)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews")
def list_reviews(d: GitHubDouble, call: Call) -> Any:
    """Reviews of a PR, oldest first."""
    repo, pull = _pull(d, call)
    return paginate(d, call, [d.shapes.review(repo, rv) for rv in repo.reviews.values() if rv.number == pull.number])


@routes.post("/repos/{owner}/{repo}/pulls/{number}/reviews")
def create_review_route(d: GitHubDouble, call: Call) -> Any:
    """Submit a review as the caller (`event` APPROVE | REQUEST_CHANGES | COMMENT)."""
    repo, pull = _pull(d, call)
    data = call.json()
    event = data.get("event", "COMMENT")
    if event not in REVIEW_EVENTS:
        raise invalid("event is invalid", "event", "PullRequestReview", "invalid")
    review = d.create_review(repo, pull, call.actor, REVIEW_EVENTS[event], check_body(data.get("body")),  # type: ignore[arg-type]
                             data.get("commit_id"), data.get("comments"), wait=False)
    return d.shapes.review(repo, review)


def _review(d: GitHubDouble, call: Call) -> tuple[Repo, Review]:
    repo, pull = _pull(d, call)
    review = repo.reviews.get(call.int_param("id"))
    if review is None or review.number != pull.number:
        raise not_found()
    return repo, review


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews/{id}")
def get_review(d: GitHubDouble, call: Call) -> Any:
    """One review."""
    repo, review = _review(d, call)
    return d.shapes.review(repo, review)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews/{id}/comments")
def review_comments(d: GitHubDouble, call: Call) -> Any:
    """Line comments of one review."""
    repo, review = _review(d, call)
    return [d.shapes.review_comment(repo, repo.review_comments[i]) for i in review.comment_ids]


@routes.put("/repos/{owner}/{repo}/pulls/{number}/reviews/{id}/dismissals")
def dismiss_review_route(d: GitHubDouble, call: Call) -> Any:
    """Dismiss a review (only approvals and change requests can be dismissed, like GitHub)."""
    repo, review = _review(d, call)
    if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
        raise HttpError(422, "Can not dismiss a commented pull request review")
    message = call.json().get("message")
    if not message:
        raise invalid("message wasn't supplied", "message", "PullRequestReview", "missing_field")
    d.dismiss(repo, review, call.actor, message, wait=False)  # type: ignore[arg-type]
    return d.shapes.review(repo, review)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/comments")
def pull_review_comments(d: GitHubDouble, call: Call) -> Any:
    """All line comments of a PR."""
    repo, pull = _pull(d, call)
    return paginate(d, call, [d.shapes.review_comment(repo, c) for c in repo.review_comments.values()
                              if c.number == pull.number])
