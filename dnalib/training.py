"""The training engine: what every training loop in dnalib shares.

:func:`dnalib.pretrain.pretrain` (masked-language modelling) and
:func:`dnalib.contrastive.finetune` (the contrastive curriculum) keep only what
is theirs: the batch, the loss and what to save. Everything else is here:

- :func:`setup_processes` and :class:`Processes`: the rank, world size and
  device of this process (joining the process group under ``torchrun`` /
  ``accelerate launch``), DDP wrapping, sums over processes, bf16 autocast.
- :func:`cosine_lr`: linear warm-up then one cosine decay.
- :class:`Run`: the output directory of one run. It records the run's
  settings and the fingerprints of what it was trained from, writes the log
  (``log.jsonl``, one line per step) and atomic checkpoints (keeping the
  newest few), resumes from the newest *good* checkpoint after checking
  that settings and data are the same, and writes the final model atomically
  with an info file that names everything that produced it.

A loop reads top to bottom::

    procs = setup_processes(device)
    run = Run(out_dir, info_file=..., settings=cfg, fingerprints={"data": ...},
              total_steps=cfg.max_steps, checkpoint_every=..., keep=..., processes=procs)
    state = run.resume(load) if resume else None   # reads, checks, writes nothing
    for step in run.steps():                         # the first step starts the directory
        ...                                   # the batch, the loss, optimizer.step()
        run.log({"step": step + 1, "loss": ...})
        if run.checkpoint_due(step + 1):
            run.checkpoint(step + 1, save, {"optimizer": optimizer.state_dict()})
    run.finish(save, info, {"optimizer": optimizer.state_dict()})

The directory layout: the final model files and ``INFO`` (written last: a
directory without it is an unfinished run), ``log.jsonl``, and
``checkpoints/step-NNNNNNN/`` (model files plus ``training_state.pt``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dnalib import rundir
from dnalib.errors import DnalibError
from dnalib.io import write_text_atomically
from dnalib.profiles import Settings

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "training_state.pt"
LOG_FILE = "log.jsonl"
#: Where a run being finished writes its final files before they are moved into place.
FINAL_TMP = ".final-tmp"
#: The info file each trainer's :meth:`Run.finish` writes last (settings, data, command, final
#: metrics): a directory without it holds an unfinished run. Defined here, once, for the
#: trainers that write them and the loaders that look for them.
PRETRAIN_INFO_FILE = "dnalib_pretrain.json"
FINETUNE_INFO_FILE = "dnalib_finetune.json"
SPECTRUM_MAP_INFO_FILE = "dnalib_spectrum_map.json"
#: Info files of a finished encoder run (pretrain, finetune).
RUN_INFO_FILES = (PRETRAIN_INFO_FILE, FINETUNE_INFO_FILE)

# --------------------------------------------------------------------------- small helpers


def plain(settings: Any) -> Any:
    """Settings as plain JSON values: a dataclass becomes a dict, tuples become lists.

    A :class:`~dnalib.profiles.Settings` dataclass gives its
    :meth:`~dnalib.profiles.Settings.to_dict` (settings at their ``NEUTRAL``
    values left out).

    Two runs' settings compare equal exactly when their :func:`plain` forms do,
    whether they come from a dataclass, a JSON file or a checkpoint.

    Parameters
    ----------
    settings
        A dataclass instance, or any JSON-like value.

    Returns
    -------
    object
    """
    if isinstance(settings, Settings):
        return settings.to_dict()  # a setting at its NEUTRAL value is left out
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        settings = dataclasses.asdict(settings)
    return json.loads(json.dumps(settings))


def changed_keys(old: Any, new: Any) -> list[str]:
    """The settings whose :func:`plain` values differ between two configs or dicts (sorted)."""
    old, new = plain(old), plain(new)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def sequences_fingerprint(sequences: Sequence[str]) -> str:
    """SHA-256 of contigs in order: names the training data of a run.

    Two runs with the same settings and the same fingerprint train the same
    model (the samplers depend on the contigs and their order).

    Parameters
    ----------
    sequences : sequence of str

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(str(len(seq)).encode())
        digest.update(b":")
        digest.update(seq.encode())
    return digest.hexdigest()


def groups_fingerprint(groups: Sequence[Sequence[str]]) -> str:
    """SHA-256 of groups of contigs (contrastive training data), groups and order included."""
    digest = hashlib.sha256()
    for group in groups:
        digest.update(f"group {len(group)}:".encode())
        digest.update(sequences_fingerprint(group).encode())
    return digest.hexdigest()


def weights_fingerprint(model: Any) -> str:
    """SHA-256 of a model's parameters and buffers (names, shapes, dtypes and values).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    str
        Hex digest; equal for two models exactly when their state dicts are equal.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}:".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def cosine_lr(step: int, *, peak: float, warmup_steps: int, total_steps: int,
              min_ratio: float) -> float:
    """Learning rate of optimizer step *step* (0-based): linear warm-up, then cosine decay.

    ``peak * (step + 1) / warmup_steps`` during warm-up, then a cosine from
    ``peak`` down to ``min_ratio * peak`` at ``total_steps`` (and flat after).

    Parameters
    ----------
    step : int
    peak : float
        The rate at the end of warm-up (pass 1.0 for a multiplier).
    warmup_steps, total_steps : int
    min_ratio : float
        Final rate as a fraction of *peak*.

    Returns
    -------
    float
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return peak * (min_ratio + (1 - min_ratio) * cosine)


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Processes:
    """Where this process runs: its rank, the number of processes, its device.

    Attributes
    ----------
    rank : int
    world : int
        Processes in the run (1 without ``torchrun``).
    device : torch.device
    """

    rank: int
    world: int
    device: torch.device
    #: Take the branches a GPU run takes (bf16 under ``"auto"``, fused AdamW,
    #: non-blocking copies) on any device, so that CI runs them on CPUs.
    force_gpu_paths: bool = False

    @property
    def gpu_paths(self) -> bool:
        """Whether this process takes the GPU branches (on a GPU, or forced)."""
        return self.device.type == "cuda" or self.force_gpu_paths

    @property
    def fused_adamw(self) -> bool:
        """Whether AdamW runs fused, one kernel for all parameters (on GPUs).

        torch also has a float32 fused kernel on CPUs, which a forced run uses.
        """
        return self.gpu_paths

    def to_device(self, array: Any) -> torch.Tensor:
        """A NumPy array as a tensor on this process's device.

        On a GPU the copy goes through pinned memory and does not block (the
        GPU still finishes the previous step meanwhile).
        """
        import numpy as np

        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=self.gpu_paths)

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the process that writes files and shows progress."""
        return self.rank == 0

    def share(self, n: int, what: str) -> int:
        """This process's share of *n* items split evenly over the processes (an error if uneven)."""
        if n % self.world:
            raise DnalibError(f"{what} {n} is not divisible by the {self.world} processes")
        return n // self.world

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """*module* wrapped in DDP when distributed (gradients averaged over processes)."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def sum(self, values: Sequence[float]) -> list[float]:
        """*values* summed over all processes (float64, on this process's device)."""
        if not self.distributed:
            return [float(v) for v in values]
        import torch.distributed as dist

        buf = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(buf)
        return [float(v) for v in buf.cpu()]

    def barrier(self) -> None:
        """Wait for every process (nothing to wait for in a single process)."""
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def precision(self, setting: str) -> Precision:
        """The precision a ``bf16`` setting (``"auto"``, ``"on"``, ``"off"``) trains in here.

        See :func:`choose_precision`: under ``"auto"`` bf16 on GPUs with bf16
        units, float16 with loss scaling on older GPUs (a T4), float32 on CPUs.
        """
        capability = (torch.cuda.get_device_capability(self.device)
                      if self.device.type == "cuda" else None)
        name = choose_precision(setting, self.device.type, capability,
                                force_gpu_paths=self.force_gpu_paths)
        return Precision(name, self.device.type)

    def use_bf16(self, setting: str) -> bool:
        """Whether a ``bf16`` setting (``"auto"``, ``"on"``, ``"off"``) turns bf16 autocast on.

        ``"auto"`` means on a GPU that supports bf16 (or with
        ``force_gpu_paths``), never on CPUs otherwise: measured
        on a 2-core AVX-512-BF16 machine, autocast made the ``cpu`` profile's
        pretraining steps 2.5x *slower* (the casts around small matrices cost
        more than the faster products save).
        """
        return self.precision(setting).name == "bf16"


def choose_precision(setting: str, device_type: str, capability: tuple[int, int] | None = None,
                     *, force_gpu_paths: bool = False) -> str:
    """``"bf16"``, ``"fp16"`` or ``"fp32"``: what a ``bf16`` setting trains in on a device.

    ``"on"`` is bf16 and ``"off"`` float32 everywhere. ``"auto"``: on a GPU
    of compute capability 8.0 or later (A100, H100, RTX 30xx and later) bf16;
    on an older GPU (a Colab T4 is 7.5) float16 autocast with dynamic loss
    scaling (:class:`Precision`), because such GPUs have float16 tensor cores
    (65 TFLOP/s on a T4 against 8 in float32, its data sheet) but no bf16
    units: ``torch.cuda.is_bf16_supported()`` says yes there only because bf16
    can be *emulated*, slower than float32. On CPUs float32 (measured on 2
    AVX-512-BF16 cores: bf16 autocast made the ``cpu`` profile's pretraining
    steps 2.5x slower), unless *force_gpu_paths* (CI's stand-in for a GPU
    run: bf16).

    Parameters
    ----------
    setting : str
        ``"auto"``, ``"on"`` or ``"off"``.
    device_type : str
        ``"cuda"``, ``"cpu"``, ...
    capability : tuple of int, optional
        The GPU's compute capability (``torch.cuda.get_device_capability``).
    force_gpu_paths : bool
        Take the GPU branch on a CPU (see :class:`Processes`).

    Returns
    -------
    str
    """
    if setting not in ("auto", "on", "off"):
        raise DnalibError(f"bf16 must be auto, on or off; got {setting!r}")
    if setting != "auto":
        return "bf16" if setting == "on" else "fp32"
    if device_type == "cuda":
        return "bf16" if capability is None or tuple(capability) >= (8, 0) else "fp16"
    return "bf16" if force_gpu_paths else "fp32"


@dataclass
class Precision:
    """Mixed precision for one training loop: autocast, and loss scaling for float16.

    A loop uses it in four places::

        with precision.autocast():
            loss = ...
        precision.backward(loss)           # scaled for float16
        precision.unscale(optimizer)       # before clipping gradients
        precision.step(optimizer)          # skipped when a float16 gradient overflowed

    Attributes
    ----------
    name : str
        ``"bf16"``, ``"fp16"`` or ``"fp32"`` (see :func:`choose_precision`).
    device_type : str
        ``"cuda"`` or ``"cpu"``.
    """

    name: str
    device_type: str

    def __post_init__(self) -> None:
        if self.name not in ("bf16", "fp16", "fp32"):
            raise DnalibError(f"precision must be bf16, fp16 or fp32; got {self.name!r}")
        self.scaler = (torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None)

    def autocast(self) -> Any:
        """The autocast context of the forward pass (a no-op for float32)."""
        dtype = torch.float16 if self.name == "fp16" else torch.bfloat16
        return torch.autocast(self.device_type, dtype=dtype, enabled=self.name != "fp32")

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, the loss scaled first under float16."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the loss scale (before clipping them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; under float16 skipped when a gradient is not finite, and the
        loss scale adapted."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()


def check_device(device: str | None) -> Any:
    """Parse a device name and check that this machine has it.

    Parameters
    ----------
    device : str or None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ... (None: no choice made).

    Returns
    -------
    torch.device or None

    Raises
    ------
    ~dnalib.errors.DnalibError
        For a name torch does not know, or a device this torch build or machine lacks.
    """
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise DnalibError(
            f"device {device!r} is not a device name: use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            raise DnalibError(f"device {device!r}: this torch build ({torch.__version__}) has no CUDA "
                              "support: use --device cpu, or install a CUDA build of torch")
        if not torch.cuda.is_available():
            raise DnalibError(f"device {device!r}: no CUDA GPU is visible (check nvidia-smi and "
                              "CUDA_VISIBLE_DEVICES), or use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DnalibError(f"device {device!r}: only {torch.cuda.device_count()} CUDA GPU(s) are "
                              f"visible (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return dev
    backend = torch.backends.mps if dev.type == "mps" else getattr(torch, dev.type, None)
    if backend is None or not getattr(backend, "is_available", lambda: False)():
        raise DnalibError(f"device {device!r} is not available on this machine: use --device cpu"
                          + (" or cuda" if torch.cuda.is_available() else ""))
    return dev


def setup_processes(device: str | None = None, *, force_gpu_paths: bool = False) -> Processes:
    """This process's rank, world size and device; joins the process group under torchrun.

    NCCL on GPUs, gloo on CPUs; each CPU process gets its share of the cores.

    Parameters
    ----------
    device : str, optional
        ``"cpu"``, ``"cuda"``, ... (default: CUDA if available); checked with
        :func:`check_device` (a name torch does not know, or a device this
        machine lacks, is a one-line error).
    force_gpu_paths : bool
        Take the GPU branches on any device (see :class:`Processes`; tests).

    Returns
    -------
    Processes
    """
    checked = check_device(device)  # before any process group is joined
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and device != "cpu" else "gloo"
            dist.init_process_group(backend)
    dev = checked or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    if dev.type == "cpu" and world > 1:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    return Processes(rank, world, dev, force_gpu_paths)


# --------------------------------------------------------------------------- the run directory


def checkpoints(out_dir: str | os.PathLike[str]) -> list[Path]:
    """The complete checkpoint directories of a run, oldest first."""
    root = Path(out_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if p.is_dir() and (p / STATE_FILE).exists()
                  and "tmp" not in p.name)


def latest_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint directory of a run, or None."""
    done = checkpoints(out_dir)
    return done[-1] if done else None


def read_log(path: str | os.PathLike[str], upto_step: int | None = None) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl`` up to step *upto_step*.

    A line that is not valid JSON or not UTF-8 (a write cut short when the
    run stopped, a damaged disk block) is skipped with a warning.
    """
    path = Path(path)
    if not path.exists():
        return []
    rows, bad = [], 0
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            rows.append(json.loads(raw.decode("utf-8")))
        except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
            bad += 1
    if bad:
        warnings.warn(f"{path}: skipped {bad} damaged line(s) (a write cut short?)", stacklevel=2)
    return [r for r in rows if upto_step is None or r.get("step", -1) <= upto_step]


class Run:
    """The output directory of one training run, and the bookkeeping of its loop.

    Parameters
    ----------
    out_dir : str or path-like
        The directory (created when the run starts).
    info_file : str
        Name of the file :meth:`finish` writes last (e.g. ``dnalib_pretrain.json``).
    settings
        The run's settings (a config dataclass): a checkpoint written with
        other settings is not resumed.
    fingerprints : dict
        What the run is trained from, e.g. ``{"data": sequences_fingerprint(...)}``:
        a checkpoint written from other data is not resumed.
    total_steps : int
        Steps of the whole run (:meth:`steps` may stop earlier, see *end*).
    checkpoint_every : int
        Steps between checkpoints (0: only the final one).
    keep : int
        Checkpoints kept on disk (the newest).
    processes : Processes
        From :func:`setup_processes`; only the main process writes.
    progress : bool
        Show a progress bar.
    desc : str
        Its label.
    end : int, optional
        Stop after this step (a paused run; default *total_steps*).
    on_step : callable, optional
        Called with every logged record (main process).
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, info_file: str, settings: Any,
                 fingerprints: Mapping[str, str], total_steps: int, checkpoint_every: int,
                 keep: int, processes: Processes, progress: bool = True, desc: str = "train",
                 end: int | None = None,
                 on_step: Callable[[dict[str, Any]], None] | None = None) -> None:
        if end is not None and not 1 <= end <= total_steps:
            raise DnalibError(f"stop_after must be between 1 and the run's {total_steps} steps; got {end}")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the run's own bar is enough (no "Writing model shards")
        self.out = Path(out_dir)
        self.info_file = info_file
        self.settings = plain(settings)
        self.fingerprints = dict(fingerprints)
        self.total_steps = total_steps
        self.end = total_steps if end is None else int(end)
        self.checkpoint_every = checkpoint_every
        self.keep = keep
        self.processes = processes
        self.progress = progress
        self.desc = desc
        self.on_step = on_step
        self.start_step = 0
        self.history: list[dict[str, Any]] = []
        self.resumed_from: Path | None = None
        self._bar: Any = None  # the progress bar while steps() runs

    # ---------------------------------------------------------------- starting

    def _clear(self) -> None:
        """Remove what an earlier run left, only the entries dnalib's marker lists (checksums and
        info file first, so the directory is never taken for a finished model meanwhile).

        A non-empty directory without the marker is refused, naming what is
        there (:func:`dnalib.rundir.check_output`): dnalib never deletes files
        it did not write. Files the runs did not write are left alone.
        """
        rundir.check_output(self.out, force=True)
        rundir.remove_owned(self.out)

    def _lock(self) -> None:
        """Hold the directory's lock while this run is alive (main process; a second run fails)."""
        if self.processes.main and self.out.is_dir():
            rundir.lock(self.out)

    def _owned_names(self) -> list[str]:
        return [rundir.MARKER, LOG_FILE, CHECKPOINT_DIR, FINAL_TMP, self.info_file, rundir.SUMS_FILE]

    def _no_checkpoint(self, damaged: list[Path]) -> DnalibError:
        """The error of a resume that found no checkpoint to continue from, saying what is there."""
        there = sorted(p.name for p in self.out.iterdir())
        shown = ", ".join(there[:6]) + (f" and {len(there) - 6} more" if len(there) > 6 else "")
        ckpts = (f"{len(damaged)} damaged checkpoint(s) ({', '.join(p.name for p in damaged[:3])})"
                 if damaged else "no checkpoint")
        if rundir.read_marker(self.out) is None:
            return DnalibError(
                f"cannot resume in {self.out}: it holds {ckpts} and was not written by dnalib "
                f"({shown}); dnalib will not write over it: choose another --out")
        return DnalibError(
            f"cannot resume in {self.out}: it holds {ckpts} to continue from ({shown}): pass "
            "--force instead of --resume to start over in it (only dnalib's own files are "
            "removed), or choose another --out")

    def resume(self, load: Callable[[Path], Any]) -> tuple[dict[str, Any], Any] | None:
        """Find the newest good checkpoint to continue from (None: start from scratch).

        Each checkpoint, newest first, is read (its ``training_state.pt`` and,
        through *load*, its model files); a damaged one is skipped with a
        warning. The one found must have been written with the same settings
        and fingerprints as this run, else :class:`~dnalib.errors.DnalibError`
        names what differs.

        Parameters
        ----------
        load : callable
            ``load(checkpoint_dir)`` returns whatever the loop needs from the
            checkpoint's model files (e.g. the model); it may raise on damage.

        Returns
        -------
        tuple or None
            ``(state, loaded)``: the checkpoint's state dict (``step``,
            ``config``, ``fingerprints`` and what the loop saved) and what
            *load* returned; None when the run starts from scratch.
        """
        self._lock()
        found, damaged = None, []
        for ckpt in reversed(checkpoints(self.out)):
            try:
                state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=True)
                loaded = load(ckpt)
            except Exception as exc:  # any damage: try the previous checkpoint
                reason = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
                warnings.warn(f"checkpoint {ckpt} is damaged ({reason}): trying an earlier one",
                              stacklevel=2)
                damaged.append(ckpt)
                continue
            found = ckpt, state, loaded
            break
        if found is None:
            if self.processes.main and self.out.is_dir() and any(self.out.iterdir()):
                raise self._no_checkpoint(damaged)  # (the main process decides: it writes)
            if self.processes.main:
                print(f"no usable checkpoint in {self.out / CHECKPOINT_DIR}: starting from scratch",
                      file=sys.stderr)
            return None
        ckpt, state, loaded = found
        self.check_compatible(ckpt, state)
        self.start_step = int(state["step"])
        self.resumed_from = ckpt
        self.history = read_log(self.out / LOG_FILE, self.start_step)
        return state, loaded

    def previous_info(self) -> dict[str, Any]:
        """The info file an earlier part of this run (or an earlier run) left, or ``{}``."""
        try:
            return dict(json.loads((self.out / self.info_file).read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    def check_compatible(self, ckpt: Path, state: Mapping[str, Any]) -> None:
        """Raise :class:`~dnalib.errors.DnalibError` if *state* was written by another run."""
        changed = changed_keys(state.get("config", {}), self.settings)
        if changed:
            raise DnalibError(
                f"{ckpt} was written with different settings ({', '.join(changed)}): resume with "
                "the same settings, or write to a new output directory"
            )
        saved = state.get("fingerprints", {})
        differ = sorted(k for k in self.fingerprints if k in saved and saved[k] != self.fingerprints[k])
        if differ:
            raise DnalibError(
                f"{ckpt} was trained from different {' and '.join(differ)} than this run's: resume "
                "with the same inputs, or write to a new output directory"
            )

    # ---------------------------------------------------------------- the loop

    def steps(self) -> Iterator[int]:
        """The steps still to run (0-based), with a progress bar; all processes in step.

        Nothing is written to the directory before this is first iterated, so
        a run stopped by bad settings leaves it as it was. Then a resumed run
        cuts its log back to its checkpoint's step; a new one first clears
        what an earlier run left there.
        """
        from tqdm.auto import tqdm

        if self.processes.main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock()
            if self.resumed_from is None:
                self._clear()
            rundir.own(self.out, self._owned_names())
            shutil.rmtree(self.out / FINAL_TMP, ignore_errors=True)
            write_text_atomically(self.out / LOG_FILE,
                              "".join(json.dumps(r) + "\n" for r in self.history))
        self.processes.barrier()
        bar = tqdm(total=self.end, initial=min(self.start_step, self.end), desc=self.desc,
                   unit="step", disable=not self.progress or not self.processes.main)
        self._bar = bar
        try:
            for step in range(self.start_step, self.end):
                yield step
                self.processes.barrier()
        finally:
            bar.close()

    def log(self, record: dict[str, Any], **postfix: Any) -> None:
        """Keep *record* in the history; the main process appends it to ``log.jsonl``.

        Keyword arguments are shown beside the progress bar. A loss that is
        not finite stops the run (every process) with a
        :class:`~dnalib.errors.DnalibError` before anything is published; the
        record is still logged, so the log shows where it diverged.
        """
        loss = record.get("loss")
        self.history.append(record)
        if self.processes.main:
            try:
                with open(self.out / LOG_FILE, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
            except OSError as exc:  # a failed write() names no file
                raise OSError(exc.errno, exc.strerror or str(exc), str(self.out / LOG_FILE)) from None
            bar = self._bar
            if bar is not None:
                if postfix:
                    bar.set_postfix(**postfix)
                bar.update(1)
            if self.on_step is not None:
                self.on_step(record)
        if loss is not None and not math.isfinite(float(loss)):
            step = record.get("step", len(self.history))
            raise DnalibError(
                f"training diverged: the loss is {loss} at step {step}, so nothing from this run "
                f"was published as a model; lower the learning rate (lr "
                f"{self.settings.get('lr', '?')}) and start again with --force")

    def checkpoint_due(self, step: int) -> bool:
        """Whether a checkpoint is written after *step* steps (never at the end: :meth:`finish` does)."""
        return bool(self.checkpoint_every) and step % self.checkpoint_every == 0 and step != self.end

    def checkpoint(self, step: int, save: Callable[[Path], None], state: dict[str, Any]) -> Path | None:
        """Write ``checkpoints/step-NNNNNNN`` atomically (main process) and keep the newest few.

        ``save(directory)`` writes the model files into a temporary directory,
        *state* (plus the step, settings and fingerprints) goes to its
        ``training_state.pt``, then the directory is renamed into place: an
        interrupted write never looks like a checkpoint. A failed write (a
        full disk) removes the temporary directory and is one
        :class:`~dnalib.errors.DnalibError` naming it; weights that are not
        finite are refused the same way.
        """
        if not self.processes.main:
            return None
        root = self.out / CHECKPOINT_DIR
        root.mkdir(parents=True, exist_ok=True)
        final = root / f"step-{step:07d}"
        tmp = root / f"step-{step:07d}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        with _staging(tmp, f"the checkpoint {final}"):
            tmp.mkdir()
            save(tmp)
            check_finite_weights(tmp)
            torch.save({**state, "step": step, "config": self.settings,
                        "fingerprints": self.fingerprints}, tmp / STATE_FILE)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-self.keep or None]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        return final

    def finish(self, save: Callable[[Path], None], info: dict[str, Any],
               state: dict[str, Any], *, command: str | None = None) -> None:
        """Publish the final model, its last checkpoint and the info file; all processes wait.

        Publishing is ordered so that no moment leaves a directory a loader
        accepts with files of two runs: the old ``SHA256SUMS`` and info file
        are removed first; the model files and the info file are written
        completely into a staging directory (weights checked finite), with
        their checksums; the model files are moved into place, then the last
        checkpoint, then the info file, and ``SHA256SUMS`` is written last.
        Every loader checks it (:func:`dnalib.rundir.verify_sums`), and a run
        directory without it is refused as unfinished. A failure on the way
        (a full disk) leaves no staging directory and is one line.

        Parameters
        ----------
        save : callable
            ``save(directory)`` writes the model files.
        info : dict
            What to record besides settings, fingerprints, files and where the
            run ran (command, processes, device, versions, date: added here).
        state : dict
            The training state of the final checkpoint.
        command : str, optional
            The command line (default: ``sys.argv``).
        """
        if self.processes.main:
            import time

            from dnalib import __version__

            reached = max(self.end, self.start_step)
            tmp = self.out / FINAL_TMP
            shutil.rmtree(tmp, ignore_errors=True)
            with _staging(tmp, f"the final model in {self.out}"):
                tmp.mkdir()
                save(tmp)
                check_finite_weights(tmp)
                files = sorted(p.name for p in tmp.iterdir() if p.is_file())
                rundir.own(self.out, files)
                record = {**info, "config": self.settings, "fingerprints": self.fingerprints,
                          "files": files, "command": command or " ".join(sys.argv),
                          "world_size": self.processes.world, "device": str(self.processes.device),
                          "dnalib_version": __version__, "torch_version": torch.__version__,
                          "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                (tmp / self.info_file).write_text(json.dumps(record, indent=2) + "\n")
                sums = rundir.write_sums(tmp, [*files, self.info_file],
                                         to=tmp / rundir.SUMS_FILE)
                # unpublish the earlier model, then move the new one in; checksums last
                (self.out / rundir.SUMS_FILE).unlink(missing_ok=True)
                (self.out / self.info_file).unlink(missing_ok=True)
                for name in files:
                    os.replace(tmp / name, self.out / name)
                rundir.fault_point("before-info")
                self.checkpoint(reached, save, state)
                os.replace(tmp / self.info_file, self.out / self.info_file)
                rundir.fault_point("before-sums")
                os.replace(sums, self.out / rundir.SUMS_FILE)
            shutil.rmtree(tmp, ignore_errors=True)
            rundir.release(self.out)
        self.processes.barrier()


class _staging:
    """Context of writing a staging directory: on any failure it is removed, and an OS error
    (a full disk) becomes one :class:`~dnalib.errors.DnalibError` naming what was being written."""

    def __init__(self, directory: Path, what: str) -> None:
        self.directory, self.what = directory, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            return False
        shutil.rmtree(self.directory, ignore_errors=True)
        # what runs here only serializes and writes: torch.save reports a full disk as a
        # RuntimeError ("unexpected pos", "iostream error"), safetensors as a SafetensorError
        if isinstance(exc, OSError | RuntimeError) or type(exc).__name__ == "SafetensorError":
            name = getattr(exc, "filename", None)
            why = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:160]
            try:  # torch and safetensors do not always say why a write failed
                if "No space left" not in why and \
                        shutil.disk_usage(self.directory.parent).free < (1 << 24):
                    why = f"No space left on device: {why}"
            except OSError:
                pass
            why += f", at {name}" if name else ""
            raise DnalibError(f"cannot write {self.what} ({why}): nothing was "
                              "left half-written; free some disk space (or fix the directory) and "
                              "resume with --resume") from None
        return False


def check_finite_weights(directory: str | os.PathLike[str]) -> None:
    """Refuse (:class:`~dnalib.errors.DnalibError`) ``*.safetensors`` in *directory* holding NaN or inf."""
    from safetensors.torch import load_file

    for path in sorted(Path(directory).glob("*.safetensors")):
        for name, tensor in load_file(str(path)).items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise DnalibError(
                    f"training diverged: weight {name!r} is not finite (NaN or inf), so nothing "
                    "from this run was published as a model; lower the learning rate and start "
                    "again with --force")
