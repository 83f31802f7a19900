"""`aq-coach eval` end to end: the CI doctrine gate on the shipped suite, answers files, baselines, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from assistant.evals.cli import run_eval_command

DATASETS = Path(__file__).resolve().parents[2] / "evals" / "datasets"


def test_shipped_suite_with_composer_passes_and_every_framing_check_passes(shipped_eval):
    """The CI doctrine gate: exit 0 on the real index, and no answer frames coordination as a cause."""
    assert shipped_eval["exception"] is None or isinstance(shipped_eval["exception"], SystemExit), shipped_eval["exception"]
    payload = shipped_eval["payload"]
    assert payload is not None, shipped_eval["stdout"] + shipped_eval["stderr"]
    framing = [ch for c in shipped_eval["report"]["cases"] for ch in c["checks"] if ch["name"] == "framing"]
    assert framing and all(ch["verdict"] == "pass" for ch in framing), [ch["evidence"] for ch in framing if ch["verdict"] != "pass"]
    summary = payload["summary"]
    assert summary["failed_thresholds"] == [], summary["thresholds"]
    assert summary["ok"] and shipped_eval["code"] == 0
    assert payload["reports"]["json"].endswith("report.json") and payload["reports"]["html"].endswith("report.html")
    assert summary["judge_self_test"]["framing"]["precision"] >= 0.9


def test_causal_answers_exit_1_and_every_answer_is_flagged(run_cli, tmp_path):
    r = run_cli(["--json", "--answers", str(DATASETS / "causal_answers.jsonl"), "--report", str(tmp_path)])
    assert r.exit_code == 1, r.stdout + r.stderr
    summary = json.loads(r.stdout)["summary"]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert summary["framing_failures"] == [c["id"] for c in report["cases"]] and len(report["cases"]) == 8
    for case in report["cases"]:
        framing = next(ch for ch in case["checks"] if ch["name"] == "framing")
        assert framing["verdict"] == "fail" and framing["evidence"][0]["sentence"] and framing["evidence"][0]["span"]
    assert "framing" in summary["failed_thresholds"]


def test_good_answers_pass_framing(run_cli, tmp_path):
    r = run_cli(["--json", "--answers", str(DATASETS / "good_answers.jsonl"), "--report", str(tmp_path)])
    assert r.exit_code in (0, 1), r.stderr
    summary = json.loads(r.stdout)["summary"]
    assert summary["checks"]["framing"]["pass"] == 6 and summary["framing_failures"] == []
    assert "framing" not in summary["failed_thresholds"]


def _answers_file(path, answer):
    sentence = "AQ views sprint speed as the result of aggressive sprint-system relationships organizing together continuously during sprinting."
    path.write_text(json.dumps({"id": "flip", "question": "What does sprint speed depend on?", "answer": answer, "tags": ["t"],
                                "terms_any": ["sprint-system relationships"],
                                "sources": [{"id": "s1", "section": "What This Means For Speed Training", "excerpt": sentence}]}) + "\n",
                    encoding="utf-8")


def test_baseline_reports_a_case_that_flips(run_cli, tmp_path):
    good = ("AQ views sprint speed as the result of aggressive sprint-system relationships organizing together continuously "
            "during sprinting. Here is how AQ sees it. That is the short version. It is not about one single cue. "
            "It is about how things work together.")   # 40+ words: the length check applies to every answer
    _answers_file(tmp_path / "a.jsonl", good)
    first = run_cli(["--json", "--answers", str(tmp_path / "a.jsonl"), "--report", str(tmp_path / "before")])
    assert first.exit_code == 0, first.stdout + first.stderr
    _answers_file(tmp_path / "a.jsonl", good + " Better coordination makes you faster.")
    second = run_cli(["--json", "--answers", str(tmp_path / "a.jsonl"), "--baseline", str(tmp_path / "before" / "report.json"),
                          "--report", str(tmp_path / "after")])
    assert second.exit_code == 1
    payload = json.loads(second.stdout)
    assert payload["regressions"][0]["id"] == "flip" and payload["regressions"][0]["after"] == "fail"
    assert "framing" in payload["regressions"][0]["checks"]
    report = json.loads((tmp_path / "after" / "report.json").read_text(encoding="utf-8"))
    assert report["regressions"] == payload["regressions"] and payload["summary"]["regressions"] == 1
    human = run_cli(["--answers", str(tmp_path / "a.jsonl"), "--baseline", str(tmp_path / "before" / "report.json"),
                         "--report", str(tmp_path / "after2")])
    assert "regression" in human.stdout and "flip" in human.stdout


def test_retrieval_set_gives_retrieval_metrics_only(run_cli, tmp_path):
    r = run_cli(["--json", "--dataset", str(DATASETS / "retrieval.yaml"), "--report", str(tmp_path)])
    payload = json.loads(r.stdout)
    s = payload["summary"]
    assert s["mode"] == "retrieval" and set(s["checks"]) == {"retrieval"}
    assert s["retrieval"]["k"] == 3 and 0 <= s["retrieval"]["mrr"] <= 1
    assert s["thresholds"]["recall_at_3"]["value"] == s["retrieval"]["recall_at_k"]
    assert r.exit_code == (0 if s["ok"] else 1)


def test_human_output_has_summary_and_tag_tables(run_cli, tmp_path):
    r = run_cli(["--answers", str(DATASETS / "causal_answers.jsonl"), "--report", str(tmp_path)])
    assert r.exit_code == 1
    for word in ("framing", "per tag", "judge self-test", "FAILED", "report.html"):
        assert word in r.stdout


# --- usage errors: exit 2 with a clear message ---------------------------------------------------

def test_bad_dataset_exits_2_with_file_line_and_field(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases:\n  - id: a\n    question: 'q'\n    tags: 7\n", encoding="utf-8")
    r = run_cli(["--dataset", str(bad), "--report", str(tmp_path / "r")])
    assert r.exit_code == 2
    assert f"{bad}:4: tags:" in r.stderr and "list of strings" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r" / "report.json").exists()


def test_usage_errors_exit_2(run_cli, tmp_path):
    (tmp_path / "bin.jsonl").write_bytes(b"\x00\x01\x02\xff")
    (tmp_path / "notreport.json").write_text("[]", encoding="utf-8")
    cases = [
        (["--dataset", str(tmp_path / "missing.yaml")], "does not exist"),
        (["--answers", str(tmp_path / "bin.jsonl")], "binary"),
        (["--backend", "gpt-17"], "unknown backend"),
        (["--answers", str(DATASETS / "causal_answers.jsonl"), "--baseline", str(tmp_path / "notreport.json")], "not an eval report"),
    ]
    for args, message in cases:
        r = run_cli([*args, "--report", str(tmp_path / "r")])
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["--json", "--dataset", str(tmp_path / "missing.yaml"), "--report", str(tmp_path / "r")])
    assert r.exit_code == 2 and "does not exist" in json.loads(r.stdout)["error"]


def test_run_eval_command_can_be_called_directly(indexed_settings, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = run_eval_command(answers=DATASETS / "causal_answers.jsonl", report_dir=tmp_path, as_json=True,
                            console=Console(file=out), err_console=Console(file=err), settings=indexed_settings)
    assert code == 1 and json.loads(out.getvalue())["summary"]["cases"] == 8
    code = run_eval_command(dataset=tmp_path / "nope.yaml", report_dir=tmp_path, console=Console(file=out),
                            err_console=Console(file=err), settings=indexed_settings)
    assert code == 2 and "does not exist" in err.getvalue()


def test_llm_judge_switched_on_without_an_endpoint_is_a_usage_error(indexed_settings, tmp_path):
    from typer.testing import CliRunner

    from assistant.cli import app

    env = {"AQ_DATA_DIR": str(indexed_settings.data_dir), "AQ_CORPUS_DIR": str(indexed_settings.corpus_dir),
           "AQ_EVAL_LLM_JUDGE": "1", "OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}
    r = CliRunner().invoke(app, ["eval", "--answers", str(DATASETS / "causal_answers.jsonl"), "--report", str(tmp_path)], env=env)
    assert r.exit_code == 2 and "OPENAI_BASE_URL" in r.stderr
