"""The shared training engine (dnalib.training): run directory, resume, checkpoints, processes.

A toy loop (a linear model fitted to fixed data) goes through the engine
exactly as pretraining and fine-tuning do, so these tests check the engine
alone, in well under a second each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from dnalib import training as T
from dnalib.errors import DnalibError

INFO = "toy_info.json"


def toy_train(out: Path, *, steps: int = 6, resume: bool = False, data: str = "A", lr: float = 0.1,
              checkpoint_every: int = 2, keep: int = 2, end: int | None = None,
              fail_at: int | None = None) -> dict:
    """A loop written like dnalib's: settings, fingerprints, resume, log, checkpoints, finish."""
    procs = T.setup_processes("cpu")
    settings = {"steps": steps, "lr": lr}
    run = T.Run(out, info_file=INFO, settings=settings, fingerprints={"data": data},
                total_steps=steps, end=end, checkpoint_every=checkpoint_every, keep=keep,
                processes=procs, progress=False)

    def load(ckpt: Path):
        return torch.load(ckpt / "w.pt", weights_only=True)

    resumed = run.resume(load) if resume else None
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    if resumed:
        state, weights = resumed
        model.load_state_dict(weights)
        opt.load_state_dict(state["optimizer"])
    x = torch.arange(32, dtype=torch.float32).view(8, 4) / 32
    y = x.sum(1, keepdim=True)
    local = 8 // procs.world
    mine = slice(procs.rank * local, (procs.rank + 1) * local)
    wrapped = procs.wrap(model)

    def save(directory: Path) -> None:
        torch.save(model.state_dict(), directory / "w.pt")

    for step in run.steps():
        if fail_at is not None and step == fail_at:
            raise KeyboardInterrupt  # stands for a crash or a kill mid-run
        # each process: its slice, divided by the global count (DDP averages gradients)
        loss = ((wrapped(x[mine]) - y[mine]) ** 2).sum() / 8 * procs.world
        loss.backward()
        opt.step()
        opt.zero_grad()
        total = procs.sum([float(loss.detach()) / procs.world])[0]
        run.log({"step": step + 1, "loss": total})
        if run.checkpoint_due(step + 1):
            run.checkpoint(step + 1, save, {"optimizer": opt.state_dict()})
    run.finish(save, {"kind": "toy"}, {"optimizer": opt.state_dict()})
    return {"history": run.history, "weight": model.weight.detach().clone()}


def _log(out: Path) -> list[dict]:
    return T.read_log(out / T.LOG_FILE)


def test_a_finished_run_has_its_files_an_info_file_naming_them_and_the_newest_checkpoints(tmp_path):
    res = toy_train(tmp_path / "r", steps=7, checkpoint_every=2, keep=2)
    out = tmp_path / "r"
    info = json.loads((out / INFO).read_text())
    assert info["files"] == ["w.pt"] and info["config"] == {"steps": 7, "lr": 0.1}
    assert info["fingerprints"] == {"data": "A"}
    # checkpoints at 2, 4, 6 and the final 7; keep=2 leaves the newest two
    assert [p.name for p in T.checkpoints(out)] == ["step-0000006", "step-0000007"]
    assert [r["step"] for r in _log(out)] == list(range(1, 8))
    assert [r["loss"] for r in res["history"]] == [r["loss"] for r in _log(out)]
    assert not list(out.glob("*.tmp-*")) and not (out / T.FINAL_TMP).exists()


def test_resume_after_an_interruption_reproduces_the_uninterrupted_run(tmp_path):
    ref = toy_train(tmp_path / "ref", steps=8)
    with pytest.raises(KeyboardInterrupt):
        toy_train(tmp_path / "run", steps=8, fail_at=5)
    assert not (tmp_path / "run" / INFO).exists()  # an interrupted run is not a finished model
    res = toy_train(tmp_path / "run", steps=8, resume=True)
    assert torch.equal(res["weight"], ref["weight"])
    assert [r["loss"] for r in _log(tmp_path / "run")] == [r["loss"] for r in ref["history"]]


def test_a_paused_run_resumes_to_the_same_end(tmp_path):
    ref = toy_train(tmp_path / "ref", steps=6)
    toy_train(tmp_path / "run", steps=6, end=3)
    assert json.loads((tmp_path / "run" / INFO).read_text())["kind"] == "toy"
    res = toy_train(tmp_path / "run", steps=6, resume=True)
    assert torch.equal(res["weight"], ref["weight"])


def test_resume_refuses_other_settings_or_other_data_naming_the_difference(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        toy_train(tmp_path / "run", steps=8, fail_at=5)
    with pytest.raises(DnalibError, match=r"different settings \(lr\)"):
        toy_train(tmp_path / "run", steps=8, lr=0.2, resume=True)
    with pytest.raises(DnalibError, match="different data"):
        toy_train(tmp_path / "run", steps=8, data="B", resume=True)
    # nothing was changed by the refusals: the same run still resumes
    assert toy_train(tmp_path / "run", steps=8, resume=True)["history"][-1]["step"] == 8


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    ref = toy_train(tmp_path / "ref", steps=8)
    with pytest.raises(KeyboardInterrupt):
        toy_train(tmp_path / "run", steps=8, fail_at=5)
    newest = T.latest_checkpoint(tmp_path / "run")
    assert newest.name == "step-0000004"
    (newest / T.STATE_FILE).write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="damaged"):
        res = toy_train(tmp_path / "run", steps=8, resume=True)
    assert torch.equal(res["weight"], ref["weight"])  # from step 2: same run


def test_a_half_written_log_line_is_skipped_with_a_warning(tmp_path):
    ref = toy_train(tmp_path / "ref", steps=8)
    with pytest.raises(KeyboardInterrupt):
        toy_train(tmp_path / "run", steps=8, fail_at=5)
    with open(tmp_path / "run" / T.LOG_FILE, "a") as fh:
        fh.write('{"step": 6, "lo')
    with pytest.warns(UserWarning, match="damaged line"):
        res = toy_train(tmp_path / "run", steps=8, resume=True)
    assert [r["loss"] for r in res["history"]] == [r["loss"] for r in ref["history"]]
    assert [r["step"] for r in _log(tmp_path / "run")] == list(range(1, 9))


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path, capsys):
    ref = toy_train(tmp_path / "ref", steps=4)
    res = toy_train(tmp_path / "new", steps=4, resume=True)
    assert "starting from scratch" in capsys.readouterr().err
    assert torch.equal(res["weight"], ref["weight"])


def test_a_new_run_never_leaves_a_mix_of_two_runs(tmp_path):
    out = tmp_path / "run"
    toy_train(out, steps=4)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):  # start over in the same directory, interrupted
        toy_train(out, steps=6, lr=0.2, fail_at=3)
    assert not (out / INFO).exists() and not (out / "w.pt").exists()  # old model gone
    assert [p.name for p in T.checkpoints(out)] == ["step-0000002"]  # only the new run's
    assert (out / "notes.txt").read_text() == "mine"  # files no run wrote stay
    state = torch.load(T.latest_checkpoint(out) / T.STATE_FILE, weights_only=True)
    assert state["config"]["lr"] == 0.2


def test_bad_settings_before_the_loop_leave_the_directory_untouched(tmp_path):
    out = tmp_path / "run"
    toy_train(out, steps=4)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(DnalibError):
        toy_train(out, steps=4, lr=0.5, resume=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_checkpoint_and_final_writes_are_atomic(tmp_path, monkeypatch):
    out = tmp_path / "run"
    toy_train(out, steps=4)
    info_before = (out / INFO).read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(DnalibError, match=r"cannot write the checkpoint .*step-0000002 \(disk full"):
        toy_train(out, steps=4, resume=False, lr=0.3)
    # the failed checkpoint left no checkpoint, and no temporary directory either
    assert T.checkpoints(out) == [] and not list((out / T.CHECKPOINT_DIR).iterdir())
    assert info_before and not (out / INFO).exists()


def test_cosine_lr_warms_up_then_decays_to_its_floor():
    lrs = [T.cosine_lr(s, peak=2.0, warmup_steps=4, total_steps=20, min_ratio=0.1) for s in range(25)]
    assert lrs[:4] == [0.5, 1.0, 1.5, 2.0]
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert lrs[20] == pytest.approx(0.2) and lrs[24] == pytest.approx(0.2)


def test_fingerprints_name_content_and_order():
    assert T.sequences_fingerprint(["AC", "GT"]) != T.sequences_fingerprint(["GT", "AC"])
    assert T.sequences_fingerprint(["ACG", "T"]) != T.sequences_fingerprint(["AC", "GT"])
    assert T.groups_fingerprint([["A", "C"]]) != T.groups_fingerprint([["A"], ["C"]])
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    assert T.weights_fingerprint(a) == T.weights_fingerprint(b)
    with torch.no_grad():
        b.weight[0, 0] += 1e-6
    assert T.weights_fingerprint(a) != T.weights_fingerprint(b)


@pytest.mark.slow
def test_two_processes_compute_what_one_process_does(tmp_path):
    """The toy loop under torchrun with 2 gloo processes: same losses, same weights."""
    one = toy_train(tmp_path / "one", steps=5)
    script = tmp_path / "toy.py"
    script.write_text(textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_training import toy_train
        res = toy_train(__import__("pathlib").Path({str(tmp_path / "two")!r}), steps=5)
        if __import__("os").environ["RANK"] == "0":
            torch.save(res["weight"], {str(tmp_path / "w2.pt")!r})
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "two" / INFO).read_text())["kind"] == "toy"
    two = [r["loss"] for r in _log(tmp_path / "two")]
    assert two == pytest.approx([r["loss"] for r in one["history"]], rel=1e-6)
    assert torch.allclose(torch.load(tmp_path / "w2.pt"), one["weight"], atol=1e-7)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "hour", "gpu"])
def test_configs_round_trip_through_plain_data(profile):
    from dnalib.contrastive import FinetuneConfig, finetune_config
    from dnalib.pretrain import PretrainConfig, pretrain_config

    for cls, cfg in ((PretrainConfig, pretrain_config(profile)),
                     (FinetuneConfig, finetune_config(profile)),
                     (FinetuneConfig, finetune_config(profile, label_free=True))):
        data = cfg.to_dict()
        assert json.loads(json.dumps(data)) == data  # plain JSON values
        assert cls.from_dict(data) == cfg  # lists back to tuples where the field is a tuple
        assert cls.from_dict(json.loads(json.dumps(data))) == cfg
    with pytest.raises(DnalibError, match="unknown FinetuneConfig setting"):
        FinetuneConfig.from_dict({"phase_step": [1]})
    with pytest.raises(DnalibError, match="batch_pairs"):
        FinetuneConfig.from_dict({"batch_pairs": 1})  # validated like a profile's settings


def test_every_profile_table_lives_in_profiles():
    import dnalib
    from dnalib import profiles

    tables = [n for n in vars(profiles) if n.endswith(("_SETTINGS", "_SIZES", "_ENCODERS"))]
    assert sorted(tables) == ["FINETUNE_SETTINGS", "LABEL_FREE_SETTINGS", "MODEL_SIZES",
                              "PRETRAIN_SETTINGS", "SCRATCH_ENCODERS"]
    for name in tables:
        assert set(getattr(profiles, name)) == set(profiles.PROFILES), name
    for path in Path(dnalib.__file__).parent.glob("*.py"):
        if path.name != "profiles.py":
            src = path.read_text()
            assert not any(f"\n{t}" in src and f"{t}: dict" in src for t in tables), path


# --------------------------------------------------------------------------- ownership, lock, publish


def test_starting_over_refuses_a_directory_dnalib_did_not_write_and_deletes_nothing(tmp_path):
    out = tmp_path / "mine"
    (out / T.CHECKPOINT_DIR).mkdir(parents=True)
    for name in (T.LOG_FILE, "config.json", f"{T.CHECKPOINT_DIR}/notes.txt"):
        (out / name).write_text("the user's")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DnalibError, match=r"dnalib did not write \(checkpoints, config.json, log.jsonl\)"):
        toy_train(out, steps=2)
    with pytest.raises(DnalibError, match="no checkpoint .* not written by dnalib"):
        toy_train(out, steps=2, resume=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("damage", ["deleted", "damaged"])
def test_resume_without_a_usable_checkpoint_is_an_error_saying_what_is_there(tmp_path, damage):
    out = tmp_path / "run"
    toy_train(out, steps=4)
    for ckpt in T.checkpoints(out):
        if damage == "deleted":
            import shutil

            shutil.rmtree(ckpt)
        else:
            (ckpt / T.STATE_FILE).write_bytes(b"garbage")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DnalibError, match=r"cannot resume .*(no checkpoint|2 damaged).*pass --force"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            toy_train(out, steps=4, lr=0.5, resume=True)  # new settings are not taken either
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_second_process_cannot_run_in_a_locked_directory(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from dnalib import rundir
            rundir.lock({str(out)!r}); print("locked", flush=True); sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DnalibError, match="in use by another dnalib run"):
            toy_train(out, steps=2)
        assert not any(out.iterdir())  # the refused run wrote nothing
    finally:
        holder.communicate("")
    toy_train(out, steps=2)  # the lock went with the process


def test_a_diverging_run_stops_at_the_first_non_finite_loss_and_publishes_nothing(tmp_path):
    from dnalib import rundir

    out = tmp_path / "run"
    with pytest.raises(DnalibError, match=r"training diverged: the loss is (nan|inf) at step \d"):
        toy_train(out, steps=40, lr=1e30, checkpoint_every=0)
    assert not (out / INFO).exists() and not (out / rundir.SUMS_FILE).exists()
    assert not (out / "w.pt").exists() and T.checkpoints(out) == []


def test_a_fault_in_the_middle_of_publishing_leaves_nothing_a_loader_accepts(tmp_path, monkeypatch):
    from dnalib import rundir

    out = tmp_path / "run"
    toy_train(out, steps=4)
    assert rundir.verify_sums(out)  # published: weights and info file checked
    monkeypatch.setenv("DNALIB_FAULT", "before-sums")
    with pytest.raises(DnalibError, match=r"cannot write the final model .*No space left"):
        toy_train(out, steps=4, lr=0.3)
    assert (out / INFO).exists() and (out / "w.pt").exists()  # the new files are there, but:
    with pytest.raises(DnalibError, match="did not finish publishing"):
        rundir.verify_sums(out)
    assert not (out / T.FINAL_TMP).exists()
    monkeypatch.delenv("DNALIB_FAULT")
    (out / "w.pt").write_bytes(b"changed")
    toy_train(out, steps=4)  # a new run publishes again...
    (out / "w.pt").write_bytes(b"changed")
    with pytest.raises(DnalibError, match=r"w.pt does not match SHA256SUMS"):
        rundir.verify_sums(out)  # ...and a changed file is caught


def test_setup_processes_checks_the_device_like_the_command_line():
    """One device check (training.check_device) for the CLI's --device, embedding and training:
    a library call with an unknown or missing device is a one-line error, not torch's traceback."""
    with pytest.raises(DnalibError, match="not a device name"):
        T.setup_processes("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(DnalibError, match="--device cpu"):
            T.setup_processes("cuda")
    assert T.setup_processes("cpu").device == torch.device("cpu")
    assert T.check_device(None) is None
