"""A local server for the parts of the Hugging Face Hub's wire protocol that the trainer uses
through huggingface_hub: model info, tree listing and file downloads (resolve) for a base model
from the Hub; repo creation, the model card check, preupload (the Hub decides each file's upload
mode; this one answers "regular", so contents come inline) and the NDJSON commit for the push.
Errors as the Hub sends them (X-Error-Code, X-Error-Message): a private repo is 401 RepoNotFound
without the right token, an unknown revision 404 RevisionNotFound. Test-only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HubRepo:
    private: bool
    commits: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class HubState:
    url: str
    token: str
    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


# Datasets live under "datasets/owner/name" in the store, as in the Hub's URLs.
TREE = re.compile(r"^/api/(models/|datasets/)([^/]+/[^/]+)/tree/([^/?]+)/?([^?]*)(\?.*)?$")
INFO = re.compile(r"^/api/(models/|datasets/)([^/]+/[^/]+)/revision/([^/?]+)")
RESOLVE = re.compile(r"^/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/([^?]+)")
ROUTE = re.compile(r"^/api/models/([^/]+/[^/]+)/(preupload|commit)/([^/?]+)")


def _tree(files: dict[str, bytes], under: str, recursive: bool) -> list[dict[str, Any]]:
    """The tree route's entries below a folder: files, and folders when not recursive."""
    prefix = f"{under.strip('/')}/" if under.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for name, content in sorted(files.items()):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        if "/" in rest and not recursive:
            folder = prefix + rest.split("/", 1)[0]
            entries[folder] = {"type": "directory", "path": folder, "oid": "0" * 40}
            continue
        oid = hashlib.sha1(content).hexdigest()
        entries[name] = {"type": "file", "path": name, "size": len(content), "oid": oid}
    return list(entries.values())


def _key(kind: str | None, repo_id: str) -> str:
    return f"datasets/{repo_id}" if kind == "datasets/" else repo_id


def add_dataset(state: HubState, repo_id: str, files: dict[str, bytes], *, private: bool) -> str:
    """Stores a dataset repository with one commit of files; returns the commit."""
    oid = hashlib.sha1(repo_id.encode() + b"".join(sorted(files.values()))).hexdigest()
    repo = HubRepo(private=private, files=dict(files))
    repo.commits.append({"oid": oid, "summary": "initial", "files": sorted(files)})
    state.repos[f"datasets/{repo_id}"] = repo
    return oid


@contextmanager
def hub_server(token: str) -> Iterator[HubState]:
    state = HubState("", token)

    class Handler(BaseHTTPRequestHandler):
        def _token_ok(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {state.token}"

        def _reply(
            self,
            status: int,
            body: dict[str, Any] | list[Any],
            error: str | None = None,
            *,
            code: str | None = None,
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error:
                self.send_header("X-Error-Message", error)
            if code:
                self.send_header("X-Error-Code", code)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self._token_ok():
                return True
            message = "Invalid credentials in Authorization header"
            self._reply(401, {"error": message}, message)
            return False

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self._authorised():
                return
            if self.path == "/api/repos/create":
                request = json.loads(body)
                repo_id = f"{request['organization']}/{request['name']}"
                if repo_id in state.repos:
                    self._reply(409, {"error": "You already created this model repo"})
                    return
                private = request.get("visibility") == "private" or request.get("private") is True
                state.repos[repo_id] = HubRepo(private=private)
                self._reply(200, {"url": f"{state.url}/{repo_id}", "name": repo_id})
                return
            if self.path == "/api/validate-yaml":
                # Model cards (README.md with YAML metadata) are validated before a commit.
                self._reply(200, {"errors": [], "warnings": []})
                return
            match = ROUTE.match(self.path)
            if not match or match.group(1) not in state.repos:
                self._reply(404, {"error": "Repository not found"}, "Repository not found")
                return
            repo = state.repos[match.group(1)]
            if match.group(2) == "preupload":
                files = json.loads(body)["files"]
                modes = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
                self._reply(200, {"files": modes})
                return
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(line["value"] for line in lines if line["key"] == "header")
            added = {}
            for line in lines:
                if line["key"] == "file":
                    value = line["value"]
                    added[value["path"]] = base64.b64decode(value["content"])
            repo.files.update(added)
            parent = repo.commits[-1]["oid"] if repo.commits else ""
            oid = hashlib.sha1(
                (parent + header["summary"] + "".join(sorted(added))).encode()
            ).hexdigest()
            repo.commits.append({"oid": oid, "summary": header["summary"], "files": sorted(added)})
            self._reply(
                200,
                {"commitUrl": f"{state.url}/{match.group(1)}/commit/{oid}", "commitOid": oid},
            )

        def do_HEAD(self) -> None:
            self._resolve(send_body=False)

        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            tree = TREE.match(self.path)
            if tree:
                repo = state.repos.get(_key(tree.group(1), tree.group(2)))
                if not self._visible(repo) or not self._at_revision(repo, tree.group(3)):
                    return
                assert repo is not None
                entries = _tree(
                    repo.files, tree.group(4), "recursive=true" in (tree.group(5) or "")
                )
                self._reply(200, entries)
                return
            info = INFO.match(self.path)
            if info:
                repo_id = info.group(2)
                repo = state.repos.get(_key(info.group(1), repo_id))
                if not self._visible(repo) or not self._at_revision(repo, info.group(3)):
                    return
                assert repo is not None
                sha = repo.commits[-1]["oid"]
                siblings = [{"rfilename": name} for name in sorted(repo.files)]
                self._reply(200, {"id": repo_id, "sha": sha, "siblings": siblings})
                return
            self._resolve(send_body=True)

        def _at_revision(self, repo: HubRepo | None, revision: str) -> bool:
            """Only main and the newest commit exist in this store."""
            assert repo is not None
            if revision in ("main", repo.commits[-1]["oid"]):
                return True
            message = f"Invalid rev id: {revision}"
            self._reply(404, {"error": message}, message, code="RevisionNotFound")
            return False

        def _visible(self, repo: HubRepo | None) -> bool:
            """As on the Hub: a private repo is 'not found' (401) without the right token."""
            if repo is not None and (not repo.private or self._token_ok()):
                return True
            message = "Repository not found"
            self._reply(401, {"error": message}, message, code="RepoNotFound")
            return False

        def _resolve(self, *, send_body: bool) -> None:
            match = RESOLVE.match(self.path)
            repo = state.repos.get(_key(match.group(1), match.group(2))) if match else None
            if match is None:
                self._reply(404, {"error": "not served by this test server"})
                return
            if not self._visible(repo):
                return
            assert repo is not None
            content = repo.files.get(match.group(4))
            if content is None:
                message = "Entry not found"
                self._reply(404, {"error": message}, message, code="EntryNotFound")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("X-Repo-Commit", repo.commits[-1]["oid"])
            self.send_header("ETag", f'"{hashlib.sha1(content).hexdigest()}"')
            self.end_headers()
            if send_body:
                self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
