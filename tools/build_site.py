"""Build the course website (``make site``): executed notebooks + docs/ → static HTML in ``site/``.

Stages ``build/site-src/`` from README.md (the home page), ``docs/*.md`` and the executed notebooks that
``python -m illab course --out runs/course`` wrote (plots and GIFs are in their outputs), then runs
``mkdocs build`` with mkdocs-jupyter (``pip install -e ".[site]"``). The committed notebooks are never
modified. Usage: ``python tools/build_site.py [--executed runs/course] [--out site]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def stage(executed: Path, src: Path) -> list[str]:
    """Copy the pages into ``src``; return the notebook file names (in course order)."""
    if src.exists():
        shutil.rmtree(src)
    (src / "docs").mkdir(parents=True)
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    missing = [n for n in notebooks if not (executed / n).exists()]
    if missing:
        raise SystemExit(f"no executed copies of {missing} in {executed}: run `python -m illab course --out "
                         f"{executed}` first (make site does)")
    (src / "notebooks").mkdir()
    import nbformat
    from illab.course.static import static_view
    for name in notebooks:   # final tqdm states, interact plots and GIFs visible without a live kernel
        nbformat.write(static_view(nbformat.read(executed / name, as_version=4)), src / "notebooks" / name)
    for md in sorted((ROOT / "docs").glob("*.md")):
        shutil.copy2(md, src / "docs" / md.name)
    home = (ROOT / "README.md").read_text()
    # README links point at repository paths; on the site they are pages
    home = re.sub(r"`(notebooks/)?(\d\d_[a-z_]+)\.ipynb`", r"[`\2`](notebooks/\2.ipynb)", home)
    home = re.sub(r"`docs/([a-z_]+)\.md`", r"[`docs/\1.md`](docs/\1.md)", home)
    (src / "index.md").write_text(home)
    return notebooks


def config(src: Path, out: Path, notebooks: list[str]) -> Path:
    docs = sorted(p.name for p in (src / "docs").glob("*.md"))
    lines = ["site_name: illab — an imitation learning lab", f"docs_dir: {src}", f"site_dir: {out}",
             "use_directory_urls: false", "theme:", "  name: material", "plugins:", "  - mkdocs-jupyter:",
             "      execute: false", "      include_source: true", "nav:", "  - Home: index.md", "  - Course:"]
    lines += [f"      - '{n[:-6].replace('_', ' ')}': notebooks/{n}" for n in notebooks]
    lines += ["  - Docs:"] + [f"      - '{d[:-3]}': docs/{d}" for d in docs]
    path = src.parent / "mkdocs.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executed", default=str(ROOT / "runs" / "course"), help="executed notebooks (illab course --out)")
    ap.add_argument("--out", default=str(ROOT / "site"))
    args = ap.parse_args(argv)
    src = ROOT / "build" / "site-src"
    notebooks = stage(Path(args.executed), src)
    cfg = config(src, Path(args.out).resolve(), notebooks)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")   # Material's end-of-life banner is not about this site
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--clean", "-q", "-f", str(cfg)], env=env,
                          cwd=cfg.parent)   # mkdocs-jupyter's .cache/ goes under build/, not the repository root
    if proc.returncode == 0:
        print(f"site built: open {Path(args.out).resolve() / 'index.html'}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
