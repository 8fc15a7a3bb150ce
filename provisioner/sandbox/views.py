"""GitHub's JSON forms of world objects (``base`` is the sandbox's own URL)."""

from __future__ import annotations

from typing import Any

from provisioner.sandbox.world import Owner, Repo, World

STAMP = "2020-01-01T00:00:00Z"
_REPO_LINKS = (
    "archive_url=/{archive_format}{/ref} assignees_url=/assignees{/user} blobs_url=/git/blobs{/sha}"
    " branches_url=/branches{/branch} collaborators_url=/collaborators{/collaborator}"
    " comments_url=/comments{/number} commits_url=/commits{/sha}"
    " compare_url=/compare/{base}...{head} contents_url=/contents/{+path}"
    " contributors_url=/contributors deployments_url=/deployments downloads_url=/downloads"
    " events_url=/events forks_url=/forks git_commits_url=/git/commits{/sha}"
    " git_refs_url=/git/refs{/sha} git_tags_url=/git/tags{/sha} hooks_url=/hooks"
    " issue_comment_url=/issues/comments{/number} issue_events_url=/issues/events{/number}"
    " issues_url=/issues{/number} keys_url=/keys{/key_id} labels_url=/labels{/name}"
    " languages_url=/languages merges_url=/merges milestones_url=/milestones{/number}"
    " notifications_url=/notifications{?since,all,participating} pulls_url=/pulls{/number}"
    " releases_url=/releases{/id} stargazers_url=/stargazers statuses_url=/statuses/{sha}"
    " subscribers_url=/subscribers subscription_url=/subscription tags_url=/tags teams_url=/teams"
    " trees_url=/git/trees{/sha}"
)


def owner_json(owner: Owner, base: str) -> dict[str, Any]:
    """``simple-user`` (an org owner is a simple-user of type Organization, as on GitHub)."""
    url = f"{base}/users/{owner.login}"
    return {
        "login": owner.login,
        "id": owner.id,
        "node_id": f"{'O' if owner.is_org else 'U'}_sandbox{owner.id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{owner.id}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"https://github.com/{owner.login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "Organization" if owner.is_org else "User",
        "site_admin": False,
        "user_view_type": "public",
    }


def private_user_json(world: World, base: str) -> dict[str, Any]:
    """``private-user``: what ``GET /user`` answers for the world's user."""
    mine = [r for r in world.repositories if r.owner.lower() == world.user.login.lower()]
    private = sum(r.private for r in mine)
    counts = ("public_gists", "followers", "following", "private_gists", "disk_usage")
    return {
        **owner_json(world.user, base),
        "user_view_type": "private",
        **dict.fromkeys(("name", "company", "location", "email", "hireable", "bio"), None),
        "blog": "",
        **dict.fromkeys(counts, 0),
        "public_repos": len(mine) - private,
        "total_private_repos": private,
        "owned_private_repos": private,
        "collaborators": 0,
        "created_at": STAMP,
        "updated_at": STAMP,
        "two_factor_authentication": True,
        "plan": {"name": "pro", "space": 976562499, "private_repos": 9999, "collaborators": 0},
    }


def org_json(world: World, org: Owner, base: str) -> dict[str, Any]:
    """``organization-full``; ``plan.name`` is ``free`` for an org without Codespaces."""
    url = f"{base}/orgs/{org.login}"
    repos = [r for r in world.repositories if r.owner.lower() == org.login.lower()]
    private = sum(r.private for r in repos)
    plan = "team" if org.codespaces else "free"
    return {
        **{k: v for k, v in owner_json(org, base).items() if k in ("login", "id", "node_id")},
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{org.id}?v=4",
        "description": None,
        "html_url": f"https://github.com/{org.login}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": len(repos) - private,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "total_private_repos": private,
        "owned_private_repos": private,
        "plan": {"name": plan, "space": 976562499, "private_repos": 9999},
        "created_at": STAMP,
        "updated_at": STAMP,
        "archived_at": None,
    }


def repo_json(world: World, repo: Repo, base: str) -> dict[str, Any]:
    """One dict that satisfies ``minimal-repository``, ``repository`` and ``full-repository``."""
    url = f"{base}/repos/{repo.full_name}"
    owner = world.owner(repo.owner) or Owner(repo.owner, 0, is_org=True)
    links = dict(item.split("=", 1) for item in _REPO_LINKS.split())
    zero = "forks_count forks stargazers_count watchers_count watchers size open_issues_count"
    zero += " open_issues network_count subscribers_count"
    return {
        "id": repo.id,
        "node_id": f"R_sandbox{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": owner_json(owner, base),
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": f"https://github.com/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": url,
        **{key: url + suffix for key, suffix in links.items()},
        "git_url": f"git://github.com/{repo.full_name}.git",
        "ssh_url": f"git@github.com:{repo.full_name}.git",
        "clone_url": f"https://github.com/{repo.full_name}.git",
        "svn_url": f"https://github.com/{repo.full_name}",
        **dict.fromkeys(("mirror_url", "homepage", "language", "license"), None),
        **dict.fromkeys(zero.split(), 0),
        "default_branch": "main",
        "is_template": False,
        "topics": [],
        **dict.fromkeys(("has_issues", "has_projects", "has_wiki", "has_downloads"), True),
        **dict.fromkeys(("has_pages", "has_discussions", "disabled"), False),
        "archived": repo.archived,
        "pushed_at": STAMP,
        "created_at": STAMP,
        "updated_at": STAMP,
        "permissions": dict.fromkeys(("admin", "maintain", "push", "triage", "pull"), True),
        "allow_forking": True,
        "web_commit_signoff_required": False,
    }
