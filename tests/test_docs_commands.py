"""Every command the README, the benchmarks' README and the set-up page show runs as shown.

The shell commands of the fenced code blocks of ``README.md``, ``benchmarks/README.md``
and ``book/setup.md`` are extracted and run in order, one temporary directory per page (so later
commands read what earlier ones wrote: simulate, pretrain, finetune, embed,
evaluate), on the default ``cpu`` profile. Only step counts and data sizes are
cut (``--steps``, ``--genome-length``, ``--per-genome``): fragment, view and
chunk lengths stay the profile's, so a default that breaks at real lengths
fails here. Placeholders are small generated inputs with the documented names
(``contigs.fa``, ``genomes/``); ``../shared/data`` is the local data mirror.

Every command is in :data:`COMMANDS`: how to run it, or why it is skipped
(a GPU, several nodes, the network, a suite of its own). A command the pages
show that is not in the table, or a table entry the pages no longer show, fails
:func:`test_every_documented_command_is_run_or_skipped`: add the new command
with how to run it, or the reason it cannot run here.

The Python snippets: fenced ``python`` blocks of the same pages and of the API
reference (none at present), and the ``>>>`` examples of the docstrings the API
reference (``book/api.md``) renders, which run as doctests.

Run alone: ``python -m pytest tests/test_docs_commands.py`` (or ``-m docs``),
about three minutes on 2 cores.
"""

from __future__ import annotations

import doctest
import importlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docs]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHELL_PAGES = ("README.md", "book/setup.md", "benchmarks/README.md")
PYTHON_PAGES = ("README.md", "book/setup.md", "benchmarks/README.md", "book/api.md")

SHELL_LANGS = {"bash", "sh", "shell", "console", "shell-session", "zsh", "ipython3"}
PYTHON_LANGS = {"python", "python3", "py", "pycon"}
# Fences that hold no command: a directory listing, reStructuredText for Sphinx.
OTHER_LANGS = {"", "text", "{eval-rst}"}

COMMAND_TIMEOUT_S = 600


def _shared_data_dir() -> Path:
    """The local data mirror, as tests/conftest.py finds it: $DNALIB_TEST_DATA or ../shared/data."""
    env = os.environ.get("DNALIB_TEST_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


# -- extraction ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    body: str


def fenced_blocks(page: str) -> list[Block]:
    """The fenced code blocks of a Markdown / MyST page, with their language."""
    blocks, lines = [], (REPO_ROOT / page).read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(`{3,}|~{3,})\s*(.*?)\s*$", lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(2), m.group(3)
        # MyST: ```{code-block} bash  /  ```{code-cell} python  -> the argument is the language
        directive = re.match(r"^\{(code-block|code|sourcecode|code-cell)\}\s*(\S*)", info)
        lang = directive.group(2) if directive else (info.split()[0] if info else "")
        body, j = [], i + 1
        while j < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$",
                                               lines[j]):
            body.append(lines[j])
            j += 1
        blocks.append(Block(page, i + 1, lang.lower(), "\n".join(body)))
        i = j + 1
    return blocks


def normalise(command: str) -> str:
    """One command as the table names it: shell words joined by single spaces, comments gone."""
    return " ".join(shlex.split(command, comments=True))


def shell_commands(block: Block) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and prompts dropped."""
    raw = block.body.splitlines()
    if block.lang in {"console", "shell-session"}:  # commands: prompt lines and their continuations
        kept, continued = [], False
        for line in raw:
            if line.strip().startswith("$ ") or continued:
                kept.append(line.strip().removeprefix("$ "))
                continued = line.rstrip().endswith("\\")
        raw = kept
    commands, current = [], ""
    for line in raw:
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if normalise(current):
            commands.append(normalise(current))
        current = ""
    if normalise(current):
        commands.append(normalise(current))
    return commands


def documented_commands() -> list[tuple[str, str]]:
    """(page, command) for every shell command of the pages, in page order."""
    return [(page, cmd) for page in SHELL_PAGES for block in fenced_blocks(page)
            if block.lang in SHELL_LANGS for cmd in shell_commands(block)]


# -- the table -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """Run the command as documented, plus *extra* arguments; *replace* swaps whole words."""

    extra: tuple[str, ...] = ()
    replace: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Skip:
    reason: str


STEPS = ("--steps", "2", "--no-progress")
GPU = "needs a GPU (the gpu profile: larger model, bf16, CUDA)"
NODES = "needs several nodes with GPUs (HOST is node 0's address)"
NET = "needs the network"

README: dict[str, Run | Skip] = {
    # ---- two commands
    "make book": Skip("builds the whole book: covered by tests/test_book_build.py"),
    "make test": Skip("runs the whole test suite, which this test is part of"),
    # ---- the command line
    ".venv/bin/dnalib simulate --seed 0 --out community/": Run(("--genome-length", "30000")),
    ".venv/bin/dnalib data get kmcp15": Run(note="from the local mirror ($DNALIB_DATA_MIRROR)"),
    ".venv/bin/dnalib pretrain --data community/ --out mlm/": Run(STEPS),
    ".venv/bin/dnalib finetune --init mlm/ --data community/ --out species/":
        Run(("--steps", "2,2", "--no-progress")),
    # The line: label-free views (1 kbp on cpu) from a 200 bp MLM, run as written.
    ".venv/bin/dnalib finetune --init mlm/ --data contigs.fa --label-free --out sample/": Run(STEPS),
    ".venv/bin/dnalib embed --model sample/ --input contigs.fa --out emb": Run(("--no-progress",)),
    ".venv/bin/dnalib evaluate --model tnf --genomes ../shared/data/genomes-kmcp15 --out tnf.json":
        Run(("--per-genome", "12", "--no-progress")),
    ".venv/bin/dnalib artifacts get curriculum --profile hour":
        Run(note="copies the weights shipped in dnalib/weights/hour; nothing is trained"),
}

BENCHMARKS: dict[str, Run | Skip] = {
    ".venv/bin/python benchmarks/bench_kmers.py":
        Skip("a speed benchmark (5 Mbp against pure Python), not a usage example"),
    ".venv/bin/python benchmarks/bench_tokenize.py":
        Skip("a speed benchmark (5 Mbp against pure Python), not a usage example"),
    ".venv/bin/python benchmarks/bench_pretrain.py":
        Skip("a speed benchmark (dnalib against a Hugging Face Trainer), not a usage example"),
    ".venv/bin/python benchmarks/bench_contrastive.py --seeds 0 1 2 --out "
    "results/contrastive_ablation_cpu.json":
        Skip("the chapter 6 ablation, ~12 min a seed; its record logic is "
             "tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_trajectory.py --seed 2 --out "
    "results/contrastive_trajectory_cpu.json":
        Skip("~25 min on 2 cores; its smoke run is tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_real_genomes.py --kmcp15-draws 5 --out results/real_genomes_cpu.json":
        Skip("the chapter 9 record, ~40 min (paired comparisons over 50 halves x 5 KMeans seeds); "
             "its parts are tests/test_real_genomes.py's"),
    ".venv/bin/python benchmarks/bench_contrastive.py --seeds 0 1 2 --methods SimCLR curriculum "
    "--save-models runs/ablation --out runs/ablation.json":
        Skip("the chapter 6 ablation, ~10 min a seed; --save-models is tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_contrastive.py --seeds 0 1 --methods SimCLR --finetune-data real "
    "--save-models runs/ablation-real --out runs/ablation-real.json":
        Skip("two SimCLR runs on the genomes_real training species, ~20 min; --finetune-data is "
             "tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_contrastive.py --seeds 0 1 --methods SimCLR --finetune-data mixed "
    "--save-models runs/ablation-mixed --out runs/ablation-mixed.json":
        Skip("two SimCLR runs on real and synthetic species, ~20 min; --finetune-data is "
             "tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_contrastive.py --seeds 0 1 2 --methods SimCLR MI-Mix only "
    "--save-models runs/ablation-mimix --out runs/ablation-mimix.json":
        Skip("three seeds of SimCLR and MI-Mix alone, ~50 min; --save-models is tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_real_genomes.py --no-maps --trained runs/ablation-mimix runs/ablation-real "
    "runs/ablation-mixed --sets validation --out results/real_genomes_ablation_cpu.json":
        Skip("~30 min (ten transformers embed 1,760 fragments of 10 kbp); --trained with several "
             "folders is tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_real_genomes.py --seeds 0 --trained runs/ablation --sets "
    "validation --out results/real_genomes_transformers_cpu.json":
        Skip("~30 min (six transformers embed 1,760 fragments of 10 kbp); --trained is "
             "tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/record_real_eval.py --profile cpu --out results/kmcp15_eval_cpu.json":
        Skip("the chapter 8 record, tens of minutes (three transformers embed 1,500 fragments of "
             "10 kbp); its label-free and --update paths ran in smoke on the session that added them"),
    ".venv/bin/python benchmarks/ci_costs.py --junit _build/ci/pytest.xml --out results/ci_costs_cpu.json":
        Skip("needs the report of a whole CI run; tests/test_benchmarks.py runs it on a real "
             "pytest report"),
    ".venv/bin/python benchmarks/ship_weights.py spectrum_map spectrum_map_refit spectrum_map_aug10":
        Skip("rewrites the shipped weights in dnalib/weights/ (a test must not); the recipes it "
             "trains are tests/test_real_genomes.py's"),
    ".venv/bin/python benchmarks/ship_weights.py --profile hour mlm simclr curriculum --record "
    "results/hour_training_cpu.json":
        Skip("about an hour of training, and it rewrites dnalib/weights/hour/; the recipes' "
             "chain and shipped copies are tests/test_artifacts.py's"),
    ".venv/bin/python benchmarks/bench_real_genomes.py --profile hour --models mlm simclr curriculum "
    "--out results/real_genomes_hour_cpu.json":
        Skip("~20 min (three transformers embed 3,260 fragments of 10 kbp); its parts are "
             "tests/test_real_genomes.py's"),
    ".venv/bin/python benchmarks/bench_embed.py":
        Skip("a speed and memory benchmark (streams 100k records), not a usage example"),
    ".venv/bin/python benchmarks/bench_embed.py --stream 0 --profile gpu":
        Skip("a speed benchmark of the gpu profile's encoder on the CPU, minutes, not a usage example"),
    ".venv/bin/python benchmarks/bench_bf16_training.py --out results/bf16_training_cpu.json":
        Skip("a speed benchmark, ~5 min of training in both precisions; tests/test_benchmarks.py "
             "runs it in the smoke profile"),
    ".venv/bin/python benchmarks/bench_bf16_scores.py --out results/bf16_scores_cpu.json":
        Skip("~30 min (five transformers embed 3,260 fragments of 10 kbp twice); the record is "
             "checked against precision auto by tests/test_embedders.py"),
    ".venv/bin/python benchmarks/bench_markers.py --out results/markers_cpu.json":
        Skip("about an hour (random forests on 20,878 tiles per model); --smoke is "
             "tests/test_evaluate_sequences.py's"),
    ".venv/bin/python benchmarks/bench_bf16_fused.py":
        Skip("a speed probe (about a minute of timed passes); a short run is tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/bench_scaling.py --out results/scaling_cpu.json":
        Skip("a speed benchmark (two torchrun runs of the cpu profile, minutes); its smoke run "
             "is tests/test_gpu_check.py's"),
    ".venv/bin/dnalib spectrum-map --data genomes_real --augment-errors longread10 --out "
    "runs/maps/map_aug10":
        Skip("trains on the genomes_real corpus (~4 min with augmentation); --augment-errors is "
             "tests/test_error_augmentation.py's"),
    ".venv/bin/dnalib spectrum-map --data genomes_real --hidden 512 --out runs/maps/map_h512":
        Skip("trains on the genomes_real corpus (~1.5 min); --hidden is tests/test_real_genomes.py's"),
    ".venv/bin/dnalib spectrum-map --data genomes_real --hidden 512 --augment-errors longread10 --out "
    "runs/maps/map_h512_aug10":
        Skip("trains on the genomes_real corpus (~4 min); both options are tested apart"),
    ".venv/bin/dnalib finetune --profile hour --init dnalib/weights/hour/mlm --data genomes_real "
    "--augment-errors longread10 --out runs/hour_aug10":
        Skip("1,600 steps of the hour recipe (~75 min on 2 cores); augmentation, pause and resume "
             "are tests/test_error_augmentation.py's"),
    ".venv/bin/dnalib finetune --profile hour --init dnalib/weights/hour/curriculum --data genomes_real "
    "--curriculum mimix --steps 240 --data-offset 1600 --augment-errors longread10 --out "
    "runs/curriculum_plus_aug10":
        Skip("240 MI-Mix steps of the hour model (~9 min on 2 cores); the options are "
             "tests/test_error_augmentation.py's and tests/test_contrastive.py's"),
    ".venv/bin/python benchmarks/bench_error_grid.py --models tnf kmer6 spectrum_map spectrum_map_refit "
    "spectrum_map_aug10 spectrum_map_h512_aug10 hour/simclr hour/curriculum hour/curriculum_aug10 "
    "spectrum_map_h512 hour/curriculum_plus_aug10 --draws 20 --kmeans-seeds 3 --out "
    "results/error_grid_cpu.json":
        Skip("about two hours on 2 cores (24 cells x 11 models, paired intervals over 20 halves); "
             "its --smoke run is tests/test_benchmarks.py's"),
    ".venv/bin/python benchmarks/ship_weights.py spectrum_map_h512 --from runs/maps/map_h512":
        Skip("needs the trained map above and rewrites dnalib/weights/; --from is "
             "tests/test_real_genomes.py's, its checks tests/test_artifacts.py's"),
    ".venv/bin/python benchmarks/ship_weights.py spectrum_map_h512_aug10 --from runs/maps/map_h512_aug10":
        Skip("needs the trained map above and rewrites dnalib/weights/; --from is "
             "tests/test_real_genomes.py's, its checks tests/test_artifacts.py's"),
    ".venv/bin/python benchmarks/ship_weights.py --profile hour curriculum_plus_aug10 --from "
    "runs/curriculum_plus_aug10":
        Skip("needs the finished run above and rewrites dnalib/weights/hour/; --from is "
             "tests/test_real_genomes.py's, its checks tests/test_artifacts.py's"),
    ".venv/bin/python benchmarks/ship_weights.py --profile hour curriculum_aug10 --from runs/hour_aug10":
        Skip("needs the finished hour run above and rewrites dnalib/weights/hour/; --from is "
             "tests/test_real_genomes.py's, its checks tests/test_artifacts.py's"),
    ".venv/bin/python benchmarks/gpu_check.py --out results/gpu_check_h200.json":
        Skip("needs a GPU (the gpu profile, bf16, CUDA); its smoke run on CPU is "
             "tests/test_gpu_check.py's"),
}

SETUP: dict[str, Run | Skip] = {
    "git clone https://github.com/dnalib-book/species-aware-dna-embeddings.git": Skip(NET),
    "cd species-aware-dna-embeddings": Skip("enters the clone of the line above"),
    "make book": Skip("builds the whole book: covered by tests/test_book_build.py"),
    "make test": Skip("runs the whole test suite, which this test is part of"),
    "make lab": Skip("starts a JupyterLab server that runs until stopped"),
    "make lab DIR=student": Skip("starts a JupyterLab server that runs until stopped: "
                                 "tests/test_lab_in_browser.py runs `make lab DIR=...` in a browser"),
    "python3 -m venv .venv && source .venv/bin/activate":
        Skip(f"an environment for the lines below, which {NET}; the Makefile's set-up is "
             "the same install"),
    "pip install -r requirements-lock.txt": Skip(f"{NET} (about 1 GB of packages)"),
    "pip install --no-deps -e .": Skip(f"{NET} (pip fetches setuptools to build)"),
    "conda env create -f environment.yml":
        Skip(f"{NET} and conda; its pins are checked by tests/test_foundation.py"),
    "conda activate dnalib": Skip("activates the conda environment of the line above"),
    "make grade SUBMISSIONS=submissions/":
        Skip("needs a folder of students' executed notebooks: tests/test_classroom.py builds one "
             "(make student, answers filled in, executed) and runs this command on it"),
    "DNALIB_PROFILE=gpu make book": Skip(GPU),
    ".venv/bin/dnalib pretrain --profile gpu --data community/ --out mlm/": Skip(GPU),
    ".venv/bin/torchrun --nproc_per_node=4 -m dnalib.cli pretrain --profile gpu --data "
    "community/ --out mlm/": Skip(f"{GPU}, four of them"),
    ".venv/bin/torchrun --nproc_per_node=4 -m dnalib.cli finetune --profile gpu --init mlm/ "
    "--data community/ --out species/": Skip(f"{GPU}, four of them"),
    "torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --master_addr=HOST --master_port=29500 "
    "-m dnalib.cli pretrain --profile gpu --data community/ --out mlm/": Skip(NODES),
    "accelerate launch --multi_gpu --num_processes=8 -m dnalib.cli pretrain --profile gpu "
    "--data community/ --out mlm/": Skip(f"{GPU}, eight of them"),
    "accelerate launch --multi_gpu --num_machines=2 --num_processes=16 --machine_rank=0 "
    "--main_process_ip=HOST --main_process_port=29500 -m dnalib.cli finetune --profile gpu "
    "--init mlm/ --data community/ --out species/": Skip(NODES),
    ".venv/bin/python benchmarks/pipeline.py --profile gpu --work runs/gpu --out "
    "results/pipeline_gpu.json": Skip(GPU),
    ".venv/bin/python benchmarks/pipeline.py --profile gpu --work runs/gpu8 --out "
    "results/pipeline_gpu8.json --launcher .venv/bin/torchrun --nproc_per_node=8":
        Skip(f"{GPU}, eight of them"),
    ".venv/bin/python benchmarks/pipeline.py --profile smoke --work /tmp/pipe --out "
    "/tmp/pipe.json": Skip("the same smoke run is tests/test_pipeline.py's"),
    ".venv/bin/dnalib finetune --init scratch --label-free --data contigs.fa --out sample/":
        Run(STEPS),
    ".venv/bin/dnalib embed --model sample/ --input contigs.fa --out emb": Run(("--no-progress",)),
    ".venv/bin/dnalib evaluate --model sample/ --genomes genomes/ --out results.json":
        Run(("--per-genome", "12", "--no-progress")),
    "export DNALIB_DATA_MIRROR=/path/to/mirror":
        Run(replace={"/path/to/mirror": "{mirror}"}, note="sets the mirror for any later line"),
}

TABLES: dict[str, dict[str, Run | Skip]] = {"README.md": README, "book/setup.md": SETUP,
                                             "benchmarks/README.md": BENCHMARKS}


# -- running ---------------------------------------------------------------------------------

def _executable(word: str) -> list[str]:
    """The documented program, as this interpreter (so the checkout's dnalib is the one run)."""
    return {".venv/bin/dnalib": [sys.executable, "-m", "dnalib.cli"],
            "dnalib": [sys.executable, "-m", "dnalib.cli"],
            ".venv/bin/python": [sys.executable],
            ".venv/bin/torchrun": [sys.executable, "-m", "torch.distributed.run"],
            "torchrun": [sys.executable, "-m", "torch.distributed.run"]}.get(word, [word])


def _write_contigs(path: Path) -> None:
    """``contigs.fa``: 30 contigs of 10 kbp from 10 synthetic species (no labels in the file)."""
    from dnalib.simulate import simulate_community

    com = simulate_community(7, n_genera=5, species_per_genus=2, genome_length=30_000)
    with path.open("w") as fh:
        for gid, contigs in com.genomes.items():
            for i in range(3):
                fh.write(f">{gid}_contig{i}\n{contigs[0][i * 10_000:(i + 1) * 10_000]}\n")


def _prepare(page: str, work: Path) -> None:
    """The placeholders of *page* as small generated inputs under their documented names."""
    _write_contigs(work / "contigs.fa")
    if page == "book/setup.md":  # `genomes/`: a labelled genome set (FASTA per genome + taxonomy)
        from dnalib.simulate import simulate_community

        simulate_community(3, n_genera=3, species_per_genus=3,
                           genome_length=40_000).write(work / "genomes")


class Session:
    """One page's commands, run in order in one directory with one environment."""

    def __init__(self, page: str, work: Path, mirror: Path):
        self.page, self.work, self.mirror = page, work, mirror
        self.failed: list[str] = []
        self.env = {**os.environ, "DNALIB_PROFILE": "cpu", "DNALIB_CACHE": str(work / ".cache"),
                    "PYTHONPATH": os.pathsep.join(
                        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        if mirror.is_dir():
            self.env["DNALIB_DATA_MIRROR"] = str(mirror)
        _prepare(page, work)

    def argv(self, command: str, how: Run) -> list[str]:
        words = []
        for word in shlex.split(command, comments=True):
            word = how.replace.get(word, word).replace("{mirror}", str(self.mirror))
            if word.startswith("../shared/data"):  # the mirror next to the repository
                word = str(self.mirror) + word[len("../shared/data"):]
            words.append(word)
        return [*_executable(words[0]), *words[1:], *how.extra]

    def run(self, command: str, how: Run) -> None:
        argv = self.argv(command, how)
        if argv[0] == "export":  # a setting for the lines that follow
            for assignment in argv[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return
        uses_mirror = any("shared/data" in w or w == "kmcp15" for w in command.split())
        if uses_mirror and not self.mirror.is_dir():
            pytest.skip(f"{NET}: no data mirror at {self.mirror} (set DNALIB_TEST_DATA)")
        try:
            done = subprocess.run(argv, cwd=self.work, env=self.env, capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.page}: `{command}` ran past {COMMAND_TIMEOUT_S} s ({argv})")
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            after = (f"\n(earlier commands of this page failed too: {'; '.join(self.failed)})"
                     if self.failed else "")
            self.failed.append(f"`{command}`")
            pytest.fail(f"{self.page}: `{command}` exited with {done.returncode}\n"
                        f"ran: {shlex.join(argv)}\nin: {self.work}{after}\n{tail}", pytrace=False)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, Session]:
    mirror = _shared_data_dir().resolve()
    return {page: Session(page, tmp_path_factory.mktemp(Path(page).stem.lower()), mirror)
            for page in SHELL_PAGES}


def _cases() -> list:
    cases = []
    for i, (page, command) in enumerate(documented_commands()):
        how = TABLES.get(page, {}).get(command)
        if how is None:  # reported by test_every_documented_command_is_run_or_skipped
            continue
        marks = ([pytest.mark.skip(reason=f"{page}: `{command}`: {how.reason}")]
                 if isinstance(how, Skip) else [])
        words = command.split()
        short = " ".join(w for w in words[:6] if not w.startswith(".venv/bin/"))
        cases.append(pytest.param(page, command, how, marks=marks,
                                  id=f"{page.removesuffix('.md').replace('/', '-')}-{i:02d}-{short}"))
    return cases


@pytest.mark.parametrize(("page", "command", "how"), _cases())
def test_documented_command_runs(sessions, page, command, how):
    sessions[page].run(command, how)



def test_readme_outputs_load_as_its_prose_says(sessions, monkeypatch):
    """The README's inline Python on what the commands above wrote (runs after them)."""
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    from dnalib.embed import load_embeddings

    monkeypatch.chdir(sessions["README.md"].work)
    readme = (REPO_ROOT / "README.md").read_text()
    for snippet in ('AutoModel.from_pretrained("species/")', "species/head.safetensors",
                    'AutoModelForMaskedLM.from_pretrained("mlm/")',
                    'AutoTokenizer.from_pretrained("mlm/")', "mlm/dnalib_pretrain.json",
                    'dnalib.embed.load_embeddings("emb")'):
        assert snippet in readme, f"the README no longer says {snippet}: update this test"
    AutoModel.from_pretrained("species/")
    assert Path("species/head.safetensors").is_file()
    AutoModelForMaskedLM.from_pretrained("mlm/")
    AutoTokenizer.from_pretrained("mlm/")
    assert Path("mlm/dnalib_pretrain.json").is_file()
    ids, emb = load_embeddings("emb")
    assert len(ids) == emb.shape[0] == Path("contigs.fa").read_text().count(">")


# -- the table is complete -------------------------------------------------------------------

def test_every_fence_has_a_known_language():
    unknown = [f"{b.page}:{b.line}: ```{b.lang}" for page in PYTHON_PAGES
               for b in fenced_blocks(page)
               if b.lang not in SHELL_LANGS | PYTHON_LANGS | OTHER_LANGS]
    assert not unknown, ("code fences in a language this test does not know (add it to "
                         "SHELL_LANGS, PYTHON_LANGS or OTHER_LANGS):\n" + "\n".join(unknown))


def test_every_documented_command_is_run_or_skipped():
    found = documented_commands()
    new = [f"{page}: {cmd}" for page, cmd in found if cmd not in TABLES.get(page, {})]
    gone = [f"{page}: {cmd}" for page, table in TABLES.items() for cmd in table
            if (page, cmd) not in found]
    message = []
    if new:
        message.append("commands the pages show that tests/test_docs_commands.py neither runs "
                       "nor skips (add each to its page's table, with how to run it or why it "
                       "cannot run here):\n  " + "\n  ".join(new))
    if gone:
        message.append("table entries the pages no longer show (remove them):\n  "
                       + "\n  ".join(gone))
    assert not message, "\n".join(message)
    # the line stays run, not skipped
    line = ".venv/bin/dnalib finetune --init mlm/ --data contigs.fa --label-free --out sample/"
    assert isinstance(README[line], Run) and not README[line].replace


# -- Python snippets -------------------------------------------------------------------------

def test_python_blocks_of_the_pages_run(tmp_path, monkeypatch):
    """Fenced Python of README, set-up page and API reference, each page's in one namespace."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DNALIB_PROFILE", "cpu")
    for page in PYTHON_PAGES:
        namespace: dict = {"__name__": "__docs__"}
        for block in fenced_blocks(page):
            if block.lang in PYTHON_LANGS:
                code = block.body
                if block.lang == "pycon" or code.lstrip().startswith(">>>"):
                    parser = doctest.DocTestParser()
                    test = parser.get_doctest(code, namespace, page, page, block.line)
                    runner = doctest.DocTestRunner()
                    runner.run(test)
                    assert not runner.failures, f"{page}:{block.line}: doctest failed"
                else:
                    exec(compile(code, f"{page}:{block.line}", "exec"), namespace)


API_MODULES = re.findall(r"automodule::\s+(\S+)", (REPO_ROOT / "book/api.md").read_text())


@pytest.mark.parametrize("module", API_MODULES)
def test_api_reference_examples_run(module):
    """The ``>>>`` examples of the docstrings the API reference renders, as doctests."""
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(mod, module):
        if test.examples and Path(test.filename or "").resolve().is_relative_to(REPO_ROOT):
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} docstring example(s) of {module} failed"
