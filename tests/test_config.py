"""Sweep configs: axes and their expansion, method entries, settings, and every kind of error."""

from __future__ import annotations

import textwrap

import pytest

from convbench.cases import Case
from convbench.config import load_sweep, load_sweep_text, resolve_method, with_methods
from convbench.errors import ConfigError

BASE = """\
input_size: 16
kernel_size: 3
methods: ["cbtest_methods:good"]
"""


def sweep_of(text: str):
    return load_sweep_text(textwrap.dedent(text), name="t", path="t.yaml")


def test_minimal_config_gets_the_documented_defaults():
    s = sweep_of(BASE)
    assert s.cases == (Case((16, 16), (3, 3)),)
    assert [e.name for e in s.methods] == ["cbtest_methods:good"]
    assert s.methods[0].method.family == "user"
    assert (s.timing.min_sample_s, s.timing.repeats, s.threads, s.seed) == (0.02, 25, 1, 0)
    assert s.memory_limit == 2 * 2**30 and s.memory_pass


def test_axes_expand_to_their_product_and_infeasible_cells_are_left_out():
    s = sweep_of(
        """\
        input_size: [4, 8]
        kernel_size: [3, 6, [2, 5]]
        depth: [0, 2]
        stride: [1, [1, 2]]
        dtype: [float32, int64]
        methods: ["cbtest_methods:good"]
        """
    )
    assert all(c.feasible for c in s.cases)
    assert Case((4, 4), (6, 6)) not in {replace_dtype(c) for c in s.cases}
    # 4: kernels 3 and 2x5? no, 5 > 4 -> only 3; 8: 3, 6, 2x5 -> (1 + 3) * 2 depths * 2 strides * 2
    assert len(s.cases) == 4 * 2 * 2 * 2
    assert Case((8, 8), (2, 5), 2, (1, 2), dtype="int64") in s.cases


def replace_dtype(c: Case) -> Case:
    return Case(c.input_size, c.kernel_size)


def test_ranges_round_and_dedupe():
    s = sweep_of(
        """\
        input_size: {start: 8, stop: 64, num: 4, scale: log}
        kernel_size: {start: 1, stop: 3, num: 5}
        methods: ["cbtest_methods:good"]
        """
    )
    assert sorted({c.input_size[0] for c in s.cases}) == [8, 16, 32, 64]
    assert sorted({c.kernel_size[0] for c in s.cases}) == [1, 2, 3]  # 1, 1.5->2, 2, 2.5->2, 3


def test_grids_are_facets_over_the_shared_axes():
    s = sweep_of(
        """\
        input_size: 16
        kernel_size: 3
        grids:
          - {depth: 0, stride: 1}
          - {depth: 3, stride: 2, kernel_size: [3, 5]}
        methods: ["cbtest_methods:good"]
        """
    )
    assert s.cases == (
        Case((16, 16), (3, 3)),
        Case((16, 16), (3, 3), 3, (2, 2)),
        Case((16, 16), (5, 5), 3, (2, 2)),
    )


def test_method_forms_and_settings():
    s = sweep_of(
        """\
        input_size: 16
        kernel_size: 3
        methods: ["cbtest_methods:good", {mine: "cbtest_methods:slow"}]
        memory_limit: 500MB
        time_budget_s: 2
        timing: {min_sample_s: 0.001, repeats: 3, warmup: 0}
        seed: 7
        skip: [{methods: mine, kernel_size: {min: 3}}]
        """
    )
    assert [(e.name, e.spec) for e in s.methods] == [
        ("cbtest_methods:good", "cbtest_methods:good"),
        ("mine", "cbtest_methods:slow"),
    ]
    assert s.memory_limit == 500 * 10**6 and s.time_budget_s == 2.0 and s.seed == 7
    assert s.timing.repeats == 3 and s.timing.warmup == 0
    case = s.cases[0]
    assert "skip rule 0" in s.skip_reason(case, "mine")
    assert s.skip_reason(case, "cbtest_methods:good") is None


def test_the_config_hash_ignores_formatting_but_not_content():
    a = sweep_of(BASE)
    b = sweep_of("kernel_size: 3\n# comment\ninput_size: 16\nmethods: [cbtest_methods:good]\n")
    c = sweep_of(BASE.replace("16", "17"))
    assert a.config_hash == b.config_hash != c.config_hash


def test_builtin_loops_and_all_resolve():
    s = sweep_of(BASE.replace('["cbtest_methods:good"]', "[loops]"))
    assert s.methods[0].method.family == "direct"
    every = sweep_of(BASE.replace('["cbtest_methods:good"]', "all"))
    assert every.methods[0].name == "loops" and len(every.methods) > 1


def test_with_methods_restricts_or_adds():
    s = sweep_of(BASE)
    assert [e.name for e in with_methods(s, ["cbtest_methods:raises"]).methods] == [
        "cbtest_methods:raises"
    ]
    with pytest.raises(ConfigError, match="--methods: unknown method 'nope'"):
        with_methods(s, ["nope"])


def test_resolve_method_rejects_what_is_not_callable():
    with pytest.raises(ConfigError, match="not callable"):
        resolve_method("cbtest_methods:__doc__")


def test_load_sweep_reads_a_file_and_names_it(tmp_path):
    path = tmp_path / "my-sweep.yaml"
    path.write_text(BASE)
    assert load_sweep(path).name == "my-sweep"
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config"):
        load_sweep(tmp_path / "missing.yaml")


BAD = [
    ("unknown top-level key", "colour: red\n", "key 'colour': unknown key", 4),
    ("wrong type", "seed: one\n", "key 'seed': must be an integer", 4),
    ("impossible stride", "stride: 0\n", "key 'stride': must be >= 1", 4),
    ("bad dtype", "dtype: complex128\n", "key 'dtype': dtype must be one of", 4),
    ("bad memory", "memory_limit: lots\n", "key 'memory_limit': must be a size", 4),
    ("negative budget", "time_budget_s: -1\n", "key 'time_budget_s': must be > 0", 4),
    ("bad range", "depth: {start: 1, num: 3}\n", "key 'depth': a range needs 'stop'", 4),
    ("range scale", "depth: {start: 1, stop: 3, num: 3, scale: x}\n", "'depth.scale'", 4),
    ("timing key", "timing: {repeat: 3}\n", "key 'timing.repeat': unknown key", 4),
    ("min_repeats", "timing: {repeats: 2, min_repeats: 3}\n", "'timing.min_repeats'", 4),
    ("skip method", "skip: [{methods: nope}]\n", "'skip[0].methods': method 'nope' is not", 4),
    ("skip axis", "skip: [{colour: 3}]\n", "key 'skip[0].colour': unknown key", 4),
    ("grid axis", "grids: [{colour: 3}]\n", "key 'grids[0].colour': unknown axis", 4),
    ("layer axes", "batch: 2\nfilters: 0\n", "layer mode needs batch >= 1 and filters >= 1", None),
    ("allocator", "allocator: tcmalloc\n", "key 'allocator': must be one of default, steady", 4),
    ("allocator list", "allocator: [default, x]\n", "key 'allocator[1]': must be one of", 4),
    ("processes", "processes: 0\n", "key 'processes': must be >= 1, got 0", 4),
    ("processes type", "processes: two\n", "key 'processes': must be an integer", 4),
]


@pytest.mark.parametrize(("text", "match", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_every_bad_config_names_file_key_and_line(text, match, line):
    with pytest.raises(ConfigError, match=None) as info:
        sweep_of(BASE + text)
    message = str(info.value)
    assert message.startswith("t.yaml: ") and match in message and "\n" not in message
    if line:
        assert message.endswith(f"(line {line})")


BAD_METHODS = [
    ("unknown name", "methods: [nope]", "key 'methods[0]': unknown method 'nope'"),
    ("bad import", "methods: ['nope_mod:f']", "cannot import 'nope_mod:f' (ModuleNotFoundError"),
    ("empty list", "methods: []", "key 'methods': nothing to run"),
    ("duplicate", "methods: [loops, loops]", "method name 'loops' appears twice"),
    ("named not path", "methods: [{mine: loops}]", '{name: "module:function"}'),
    ("number", "methods: [3]", "key 'methods[0]': must be a method name"),
]


@pytest.mark.parametrize(
    ("line", "match"), [b[1:] for b in BAD_METHODS], ids=[b[0] for b in BAD_METHODS]
)
def test_bad_methods_are_rejected_before_anything_runs(line, match):
    with pytest.raises(ConfigError) as info:
        sweep_of(f"input_size: 16\nkernel_size: 3\n{line}\n")
    assert match in str(info.value) and str(info.value).endswith("(line 3)")


def test_nothing_to_run_and_not_yaml_and_not_a_mapping():
    with pytest.raises(ConfigError, match="key 'kernel_size': nothing to run"):
        sweep_of("input_size: 4\nkernel_size: 9\nmethods: [loops]\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: not valid YAML: .*\(line 3\)"):
        sweep_of("input_size: 4\nkernel_size: [3\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        sweep_of("- 3\n")
    with pytest.raises(ConfigError, match="key 'methods': is required"):
        sweep_of("input_size: 4\nkernel_size: 3\n")


def test_allocator_and_processes_defaults_and_values():
    s = sweep_of(BASE)
    assert s.allocators == ("default",) and s.processes == 3
    s = sweep_of(BASE + "allocator: [steady, default, steady]\nprocesses: 5\n")
    assert s.allocators == ("steady", "default") and s.processes == 5
