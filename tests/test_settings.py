"""Stage options in labelclean.toml: checked on load, honoured alike by the CLI and `run`."""

from __future__ import annotations

import json

import pytest

from labelclean.config.options import BOOL, INT, NAMES, NUMBER, PATH, PATHS, TEXT, as_names, specs
from labelclean.config.settings import check_project_tables
from labelclean.errors import ConfigError
from labelclean.pipeline.stages import STAGES, load_project, schema


def write_config(tmp_path, body: str):
    path = tmp_path / "labelclean.toml"
    path.write_text('[dataset]\nimages = "imgs"\n' + body)
    return path


def test_names_from_a_list_or_a_comma_separated_string():
    assert as_names("phash, dhash,") == ["phash", "dhash"]
    assert as_names(["embed", " oof "]) == ["embed", "oof"]
    assert as_names(None) == []


def test_valid_settings_are_normalised(tmp_path):
    path = write_config(tmp_path, '[dedupe]\nmax-difference = 2\nmethod = "hash,thumbnail"\n'
                                  '[run]\nskip = "embed"\n[noise]\noof = "a.csv"\n')
    stages = load_project(path).stages
    assert stages["dedupe"] == {"max_difference": 2, "method": ["hash", "thumbnail"]}
    assert stages["run"] == {"skip": ["embed"]} and stages["noise"] == {"oof": ["a.csv"]}


@pytest.mark.parametrize("body, message", [
    ("[dedupe]\ntreshold = 0.95\n",
     "unknown option 'treshold' in [dedupe]; options are: against, drop_leaks, embeddings, "
     "flips, hash, k, max_difference"),
    ("[dedup]\nradius = 8\n",
     "unknown section [dedup]; sections are: dataset, scan, dedupe, embed, oof, noise, "
     "report, train, run"),
    ('[dedupe]\nradius = "ten"\n', "[dedupe] radius must be an integer, not 'ten'"),
    ("[dedupe]\nverify = 1\n", "[dedupe] verify must be true or false, not 1"),
    ('[noise]\nrelabel_threshold = "0.5"\n',
     "[noise] relabel_threshold must be a number, not '0.5'"),
    ("[run]\nskip = [1, 2]\n",
     "[run] skip must be a list of strings or a comma-separated string, not [1, 2]"),
    ("oof = 3\n", "unknown option 'oof' in [dataset]; options are: class_names, group_col, "
                  "id_col, images"),
    ("labels = 3\n", "[dataset] labels must be a string, not 3"),
    ("[oof]\nepochs = 3\n[oof.more]\nx = 1\n", "unknown option 'more' in [oof]"),
])
def test_bad_settings_are_one_clear_error(tmp_path, body, message):
    path = write_config(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_every_stage_has_options_and_every_kind_is_known():
    assert list(schema()) == ["scan", "dedupe", "embed", "oof", "noise", "report", "train",
                              "run"]
    assert check_project_tables({}, "x", schema()) == ({}, {})
    kinds = {INT, NUMBER, BOOL, TEXT, NAMES, PATH, PATHS}
    for stage, options in schema().items():
        declared = specs(options)
        assert declared and {s.kind for s in declared} <= kinds, stage


#: options of a stage command that are not stage options: the dataset, actions and display
COMMON = {"--images", "--labels", "--workdir", "--config", "--force", "--wait", "--help"}
EXTRA = {"dedupe": {"--top"}, "embed": {"--list-models"}, "report": {"--class-names"}}


def test_each_stage_command_takes_exactly_its_declared_options():
    import typer
    from labelclean.cli.main import app

    group = typer.main.get_command(app)
    for name, stage in STAGES.items():
        flags = {o for p in group.commands[name].params for o in (*p.opts, *p.secondary_opts)}
        declared = {f for s in specs(stage.options) for f in s.flags}
        assert flags - COMMON - EXTRA.get(name, set()) == declared, name
        helps = {p.opts[0]: p.help for p in group.commands[name].params}
        for s in specs(stage.options):
            if s.flags:
                assert helps[s.flags[0]] == s.help, (name, s.key)


@pytest.mark.parametrize("body, flag, value, message", [
    ("[dedupe]\nradius = 99\n", "--radius", "99",
     "[dedupe] radius must be between 0 and 32, not 99"),
    ("[dedupe]\nthreshold = 2.0\n", "--threshold", "2.0",
     "[dedupe] threshold must be between -1 and 1, not 2.0"),
    ("[embed]\nbatch_size = 0\n", "--batch-size", "0",
     "[embed] batch_size must be at least 1, not 0"),
])
def test_one_range_for_the_cli_and_the_project_file(tmp_path, cli, body, flag, value, message):
    path = write_config(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert message in str(info.value)
    stage = body[1:body.index("]")]
    result = cli(stage, flag, value, "--config", path)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: Invalid value for '{flag}'")


def test_cli_reports_a_bad_setting_before_any_work(cli, tmp_path, small_demo):
    assert cli("init", "--images", small_demo.images, "--labels",
               small_demo.labels).exit_code == 0
    config = tmp_path / "labelclean.toml"
    config.write_text(config.read_text() + '\n[scan]\nhash = ["phash", 3]\n')
    result = cli("scan")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: labelclean.toml: [scan] hash must be a list of "
                                    "strings or a comma-separated string, not ['phash', 3]")
    assert not (tmp_path / ".labelclean" / "index.csv").exists()


def test_list_settings_reach_scan_and_noise_from_cli_and_run(cli, tmp_path, small_demo):
    from .noisefiles import demo_oof

    demo_oof(small_demo).to_csv(tmp_path / "mine.csv", index=False)
    assert cli("init", "--images", small_demo.images, "--labels",
               small_demo.labels).exit_code == 0
    config = tmp_path / "labelclean.toml"
    config.write_text(config.read_text() + '\n[scan]\nhash = ["phash", "dhash"]\n'
                      '[noise]\noof = "mine.csv"\n[run]\nskip = ["embed", "oof"]\n')
    assert cli("scan").exit_code == 0
    header = (tmp_path / ".labelclean" / "hashes.csv").read_text().splitlines()[0]
    assert "phash" in header and "dhash" in header
    result = cli("run", "--stages", "scan,embed,oof,noise")
    assert result.exit_code == 0, result.output
    assert "embed   skipped (configured)" in result.stdout
    summary = json.loads((tmp_path / ".labelclean" / "summary.json").read_text())
    assert summary["parameters"]["oof"] == ["mine.csv"]
