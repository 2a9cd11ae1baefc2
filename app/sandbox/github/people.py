"""People's actions on the double's GitHub (what they would click on github.com), each sending its webhooks."""

from __future__ import annotations

from typing import Any

from . import checks, commits, deployments, issues, pulls
from .hub import Hub
from .keys import generate_key, register_app
from .state import App, CheckRun, Comment, Issue, Pull, Repo, Review, User
from .webhooks import Delivery


class People:
    """What people see and do on repositories named `owner/name` (by login); the base of `GitHubDouble`."""

    hub: Hub

    def _repo(self, full_name: str) -> Repo:
        repo = self.hub.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name} in the GitHub double")
        return repo

    def _user(self, login: str) -> User:
        return self.hub.state.user(login)

    def add_app(self, slug: str, name: str | None = None, owner: str = "other-org") -> App:
        """Register another GitHub App (e.g. a CI), whose check runs and tokens are not the double's app's."""
        state = self.hub.state
        acct = state.users.get(owner.lower()) or state.user(owner, "Organization")
        private, public = generate_key()  # its own key: a JWT signed with another App's key does not pass
        return register_app(state, slug=slug, name=name or slug, owner=acct, private=private, public=public)

    # -- what people see on a repository's pages --------------------------------------------------
    def issue(self, repo: str, number: int) -> Issue:
        """An issue's (or PR's issue half) state."""
        return self._repo(repo).issues[number]

    def comments(self, repo: str, number: int | None = None) -> list[Comment]:
        """Issue comments of a repository (of one issue/PR when `number` is given), oldest first."""
        return [c for c in self._repo(repo).comments.values() if number is None or c.number == number]

    def labels(self, repo: str, number: int | None = None) -> list[str]:
        """Label names of an issue, or of the repository when `number` is None."""
        r = self._repo(repo)
        if number is None:
            return [lab.name for lab in r.labels.values()]
        return list(r.issues[number].labels)

    def reactions(self, repo: str, number: int | None = None, comment_id: int | None = None) -> list[str]:
        """Reaction contents on an issue or a comment."""
        r = self._repo(repo)
        target = r.comments[comment_id] if comment_id is not None else r.issues[number or 0]
        return [x.content for x in target.reactions]

    def pull(self, repo: str, number: int) -> Pull:
        """A PR's state."""
        return self._repo(repo).pulls[number]

    def reviews(self, repo: str, number: int | None = None) -> list[Review]:
        """Reviews of a repository or of one PR."""
        return [rv for rv in self._repo(repo).reviews.values() if number is None or rv.number == number]

    def check_runs(self, repo: str, head_sha: str | None = None, name: str | None = None) -> list[CheckRun]:
        """Check runs of a repository (optionally for one sha / name), every App's."""
        return [c for c in self._repo(repo).check_runs.values()
                if (head_sha is None or c.head_sha == head_sha) and (name is None or c.name == name)]

    # -- people's actions: issues and comments ----------------------------------------------------
    def open_issue(self, repo: str, title: str, body: str = "", by: str = "alice",
                   labels: list[str] | None = None) -> int:
        """A person opens an issue -> its number."""
        return issues.create_issue(self.hub, self._repo(repo), title, body, self._user(by), labels=labels).number

    def label_issue(self, repo: str, number: int, label: str, by: str = "alice") -> Delivery | None:
        """A person adds a label (`issues`/`pull_request` `labeled`)."""
        r = self._repo(repo)
        sent = issues.add_labels(self.hub, r, r.issues[number], [label], self._user(by))
        return sent[0] if sent else None

    def unlabel_issue(self, repo: str, number: int, label: str, by: str = "alice") -> Delivery | None:
        """A person removes a label (`unlabeled`)."""
        r = self._repo(repo)
        return issues.remove_label(self.hub, r, r.issues[number], label, self._user(by))

    def edit_issue(self, repo: str, number: int, *, body: str | None = None, title: str | None = None,
                   by: str = "alice") -> Delivery | None:
        """A person edits an issue (`edited` with `changes`)."""
        r = self._repo(repo)
        sent = issues.update_issue(self.hub, r, r.issues[number], self._user(by), title=title, body=body)
        return sent[0] if sent else None

    def close_issue(self, repo: str, number: int, by: str = "alice") -> Delivery | None:
        """A person closes an issue or PR (`closed`)."""
        r = self._repo(repo)
        sent = issues.update_issue(self.hub, r, r.issues[number], self._user(by), state="closed")
        return sent[0] if sent else None

    def reopen_issue(self, repo: str, number: int, by: str = "alice") -> Delivery | None:
        """A person reopens an issue or PR (`reopened`)."""
        r = self._repo(repo)
        sent = issues.update_issue(self.hub, r, r.issues[number], self._user(by), state="open")
        return sent[0] if sent else None

    def comment(self, repo: str, number: int, body: str, by: str = "alice") -> int:
        """A person comments on an issue or PR -> comment id."""
        r = self._repo(repo)
        return issues.create_comment(self.hub, r, r.issues[number], body, self._user(by)).id

    def edit_comment(self, repo: str, comment_id: int, body: str, by: str = "alice") -> Delivery | None:
        """A person edits a comment (anyone's, as a maintainer can)."""
        r = self._repo(repo)
        return issues.update_comment(self.hub, r, r.comments[comment_id], body, self._user(by))

    # -- people's actions: pull requests, reviews, pushes -------------------------------------------
    def open_pull(self, repo: str, head: str, base: str | None = None, title: str = "A change",
                  body: str = "", by: str = "alice", fork: bool = False, draft: bool = False) -> int:
        """A person opens a PR from `head` (a branch of the repo; `fork=True` marks head.repo as a fork)."""
        r = self._repo(repo)
        return pulls.create_pull(self.hub, r, head, base or r.default_branch, title, body, self._user(by),
                                 fork=fork, draft=draft).number

    def submit_review(self, repo: str, pr: int, state: str = "APPROVED", by: str = "alice",
                      commit_id: str | None = None, body: str = "",
                      comments: list[dict[str, Any]] | None = None) -> int:
        """A person submits a review (APPROVED | CHANGES_REQUESTED | COMMENTED) -> review id."""
        r = self._repo(repo)
        state = pulls.REVIEW_EVENTS.get(state.upper(), state.upper())
        return pulls.create_review(self.hub, r, r.pulls[pr], self._user(by), state, body, commit_id,
                                   comments).id

    def dismiss_review(self, repo: str, pr: int, review_id: int, by: str = "alice",
                       message: str = "Dismissed") -> Delivery | None:
        """A person dismisses a review."""
        r = self._repo(repo)
        return pulls.dismiss(self.hub, r, r.reviews[review_id], self._user(by), message)

    def push_files(self, repo: str, branch: str, files: dict[str, str | bytes | None],
                   message: str = "Update files", by: str = "alice") -> str:
        """A person's commit pushed to `branch` -> sha; open PRs from that branch get `synchronize`."""
        return commits.commit_files(self.hub, self._repo(repo), branch, files, message, self._user(by))

    def create_branch(self, repo: str, branch: str, from_ref: str | None = None) -> str:
        """Create a branch (no webhook: the app does not subscribe to `create`)."""
        r = self._repo(repo)
        sha = r.git.resolve(from_ref or r.default_branch)
        assert sha, f"unknown ref {from_ref}"
        r.git.update_ref(f"refs/heads/{branch}", sha)
        return sha

    # -- people's actions: checks and deployments ---------------------------------------------------
    def add_foreign_check_run(self, repo: str, sha: str, name: str, *, app_id: int | None = None,
                              status: str = "completed", conclusion: str | None = "success",
                              output: dict[str, Any] | None = None) -> CheckRun:
        """A check run created by another App (a CI; default: one registered as `other-ci`)."""
        r = self._repo(repo)
        app = self.hub.state.apps.get(app_id) if app_id is not None else None
        if app is None:
            app = next((a for a in self.hub.state.apps.values() if a.slug == "other-ci"), None) or \
                self.add_app("other-ci", "Other CI")
        data: dict[str, Any] = {"name": name, "status": status}
        if conclusion is not None and status == "completed":
            data["conclusion"] = conclusion
        if output is not None:
            data["output"] = output
        head_sha = r.git.resolve(sha)
        assert head_sha, f"unknown commit {sha}"
        return checks.create_check_run(self.hub, r, head_sha, data, app)

    def rerequest_check_run(self, repo: str, check_run_id: int, by: str = "alice") -> Delivery | None:
        """A person clicks "Re-run": `check_run` `rerequested` (only the run's own App hears it)."""
        r = self._repo(repo)
        return checks.check_event(self.hub, r, r.check_runs[check_run_id], "rerequested", self._user(by))

    def request_check_action(self, repo: str, check_run_id: int, identifier: str,
                             by: str = "alice") -> Delivery | None:
        """A person clicks a check run's button: `check_run` `requested_action`."""
        r = self._repo(repo)
        return checks.check_event(self.hub, r, r.check_runs[check_run_id], "requested_action",
                                  self._user(by), {"requested_action": {"identifier": identifier}})

    def rerequest_check_suite(self, repo: str, check_suite_id: int | None = None, by: str = "alice",
                              head_sha: str | None = None) -> Delivery | None:
        """A person re-runs all checks: `check_suite` `rerequested` (suite by id or head sha)."""
        r = self._repo(repo)
        with self.hub.state.lock:
            suite = r.check_suites[check_suite_id] if check_suite_id else \
                checks.find_suite(self.hub, r, head_sha or "", self.hub.state.app_id)
            payload = {"action": "rerequested", "check_suite": checks.check_suite_json(self.hub, r, suite)}
        return self.hub.emit("check_suite", r, self._user(by), payload)

    def create_deployment(self, repo: str, sha: str, environment: str = "staging", by: str = "alice",
                          ref: str | None = None) -> int:
        """A deployment of a sha (e.g. by CI) -> id (no webhook: the app does not subscribe to `deployment`)."""
        r = self._repo(repo)
        return deployments.add_deployment(self.hub, r, sha, ref or sha, environment, self._user(by)).id

    def deployment_status(self, repo: str, deployment_id: int, state: str = "success",
                          environment_url: str | None = None, target_url: str | None = None,
                          by: str = "alice") -> Delivery | None:
        """A deployment reports a status: `deployment_status` `created`."""
        r = self._repo(repo)
        return deployments.add_deployment_status(self.hub, r, r.deployments[deployment_id], state, environment_url,
                                                 target_url, self._user(by))
