"""The Hugging Face Hub: base models at a resolved commit, and the push of the output.

The token comes only from HF_TOKEN and the Hub's address from HF_ENDPOINT (both read by
huggingface_hub itself); neither is ever in the config file.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmops_trainer.errors import TrainerFailure

# What a causal LM needs from a model repository; skips other weight formats (.bin, .gguf, onnx).
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]


def endpoint() -> str | None:
    """HF_ENDPOINT as it is now (huggingface_hub itself reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def download_model(repo: str, revision: str) -> Path:
    """The model's files at revision, in the local Hub cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(
            snapshot_download(
                repo,
                revision=revision,
                allow_patterns=MODEL_FILES,
                token=os.environ.get("HF_TOKEN"),
            )
        )
    except GatedRepoError as err:
        raise TrainerFailure(
            "BaseModelNotFound",
            f"baseModel.repo {repo} is gated: accept its terms on the Hub with the account of the"
            " token in spec.baseModel.tokenSecretRef",
            field="spec.baseModel.repo",
        ) from err
    except RepositoryNotFoundError as err:
        raise TrainerFailure(
            "BaseModelNotFound",
            f"baseModel.repo {repo} was not found on the Hub, or the token cannot read it: check"
            " the name and spec.baseModel.tokenSecretRef",
            field="spec.baseModel.repo",
        ) from err
    except RevisionNotFoundError as err:
        raise TrainerFailure(
            "BaseModelNotFound",
            f"baseModel.revision {revision} does not exist in {repo}",
            field="spec.baseModel.revision",
        ) from err
    except (HfHubHTTPError, OSError) as err:
        raise TrainerFailure(
            "BaseModelUnavailable", f"cannot download {repo}@{revision}: {err}"
        ) from err


def push_output(out_dir: Path, repo: str, *, private: bool, run_id: str) -> str:
    """Uploads out_dir to the model repository (created if missing); returns the commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint(), token=os.environ.get("HF_TOKEN"))
    try:
        api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo,
            repo_type="model",
            folder_path=str(out_dir),
            commit_message=f"llmops: output of run {run_id}",
        )
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403):
            raise TrainerFailure(
                "InvalidConfig",
                f"the Hub refused the push to {repo} ({status}): the token in"
                " spec.output.huggingFace.tokenSecretRef needs write access to it",
                field="spec.output.huggingFace.tokenSecretRef",
            ) from err
        raise TrainerFailure(
            "HubPushFailed", f"pushing the output to {repo} failed: {err}"
        ) from err
    except OSError as err:
        raise TrainerFailure(
            "HubPushFailed", f"pushing the output to {repo} failed: {err}"
        ) from err
    return str(commit.oid)
