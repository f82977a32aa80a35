"""The pinned CPU kernel level: which variables each kind of host gets (hand-written cases),
that the pin overrides the environment, and that this process runs at it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helo import cpu_kernels as ck

V3 = frozenset("sse4_2 avx avx2 fma f16c bmi1 bmi2 movbe".split())
SKYLAKE_X = V3 | {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
ICE_LAKE = SKYLAKE_X | {"avx512_vnni", "avx512ifma", "avx512vbmi", "avx512_vbmi2",
                        "avx512_bitalg", "avx512_vpopcntdq"}
#: the flags line of a real AVX-512 host's /proc/cpuinfo (an AMD EPYC cloud VM, Zen 4,
#: 2026-12-02): Linux spells some AVX-512 flags with an underscore and some without
EPYC_ZEN4_FLAGS = (
    "flags\t\t: "
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "
    "fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good "
    "nopl xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma "
    "cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c "
    "rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch "
    "osvw topoext vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f "
    "avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw "
    "avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero xsaveerptr arat "
    "avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg "
    "avx512_vpopcntdq rdpid fsrm "
    "\n")
V2 = frozenset("sse4_2 popcnt".split())


def test_avx2_host_is_pinned_at_avx2_with_nothing_to_switch_off():
    s = ck.settings(V3, "x86_64")
    assert s == {"HELO_CPU_KERNELS": "x86-64-v3", "NPY_DISABLE_CPU_FEATURES": "",
                 "OPENCV_CPU_DISABLE": "", "ATEN_CPU_CAPABILITY": "avx2",
                 "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2",
                 "DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}


def test_avx512_hosts_switch_off_exactly_the_targets_they_have(monkeypatch):
    monkeypatch.setattr(ck, "_numpy_targets", lambda: ck._NUMPY_TARGETS_2_4)
    skx = ck.settings(SKYLAKE_X, "x86_64")
    assert skx["NPY_DISABLE_CPU_FEATURES"] == "X86_V4"
    assert skx["OPENCV_CPU_DISABLE"] == "AVX512F,AVX512-COMMON,AVX512-SKX"
    assert skx["ATEN_CPU_CAPABILITY"] == "avx2" and skx["OPENBLAS_CORETYPE"] == "Haswell"
    icl = ck.settings(ICE_LAKE, "x86_64")
    assert icl["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL"
    assert icl["OPENCV_CPU_DISABLE"] == ("AVX512F,AVX512-COMMON,AVX512-SKX,AVX512-CLX,"
                                         "AVX512-CNL,AVX512-ICL")
    monkeypatch.setattr(ck, "_numpy_targets", lambda: ck._NUMPY_TARGETS_OLD)
    assert ck.settings(SKYLAKE_X, "x86_64")["NPY_DISABLE_CPU_FEATURES"] == (
        "AVX512F AVX512CD AVX512_SKX")


def test_a_real_cpuinfo_flags_line_switches_off_every_target_it_has(tmp_path, monkeypatch):
    """The flags as Linux writes them (``avx512_vbmi2``): a Zen 4 host must lose NumPy's ICL
    target too, not only X86_V4 (it has no ``avx512_fp16``: SPR stays, it is not in use)."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\n" + EPYC_ZEN4_FLAGS)
    flags = ck.host_flags(str(info))
    assert "avx512_vbmi2" in flags and "avx512vbmi" in flags
    monkeypatch.setattr(ck, "_numpy_targets", lambda: ck._NUMPY_TARGETS_2_4)
    s = ck.settings(flags, "x86_64")
    assert s["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL"
    assert s["OPENCV_CPU_DISABLE"] == ("AVX512F,AVX512-COMMON,AVX512-SKX,AVX512-CLX,"
                                       "AVX512-CNL,AVX512-ICL")


def test_hosts_below_the_level_are_never_told_to_use_what_they_lack():
    s = ck.settings(V2, "x86_64")
    assert "ATEN_CPU_CAPABILITY" not in s and "OPENBLAS_CORETYPE" not in s
    assert ck.below_level(V2) and not ck.below_level(V3) and not ck.below_level(None)
    unknown = ck.settings(None, "x86_64")  # no /proc/cpuinfo: only what is safe everywhere
    assert set(unknown) == {"HELO_CPU_KERNELS", "NPY_DISABLE_CPU_FEATURES", "OPENCV_CPU_DISABLE"}
    assert ck.settings(SKYLAKE_X, "aarch64") == {}


def test_host_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse4_2 avx2 fma\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert ck.host_flags(str(info)) == frozenset({"fpu", "sse4_2", "avx2", "fma"})
    assert ck.host_flags(str(tmp_path / "absent")) is None


def test_pin_overrides_the_environment_and_native_opts_out(monkeypatch):
    monkeypatch.setattr(ck, "host_flags", lambda: V3)
    monkeypatch.setattr(ck.platform, "machine", lambda: "x86_64")
    env = {"ATEN_CPU_CAPABILITY": "default", "NPY_DISABLE_CPU_FEATURES": "X86_V3",
           "OPENBLAS_CORETYPE": "Nehalem"}
    ck.pin(env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["NPY_DISABLE_CPU_FEATURES"] == ""
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["HELO_CPU_KERNELS"] == "x86-64-v3"
    mine = {"HELO_CPU_KERNELS": "native", "ATEN_CPU_CAPABILITY": "default"}
    assert ck.pin(mine) == {} and mine["ATEN_CPU_CAPABILITY"] == "default"
    below = {"ATEN_CPU_CAPABILITY": "avx2"}
    monkeypatch.setattr(ck, "host_flags", lambda: V2)
    ck.pin(below)
    assert "ATEN_CPU_CAPABILITY" not in below  # would be an illegal instruction there


@pytest.mark.skipif(ck.settings(ck.host_flags()).get("ATEN_CPU_CAPABILITY") != "avx2",
                    reason="this host is not pinned at AVX2")
def test_a_process_importing_helo_first_runs_at_the_pinned_level():
    code = ("import helo, numpy, torch;"
            "from numpy._core._multiarray_umath import __cpu_features__ as f;"
            "print(torch.backends.cpu.get_cpu_capability(), "
            "[k for k in ('X86_V4', 'AVX512_ICL', 'AVX512_SPR') if f.get(k)])")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", NPY_DISABLE_CPU_FEATURES="X86_V3")
    env.pop("HELO_CPU_KERNELS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split(None, 1)
    assert out == ["AVX2", "[]\n"]


@pytest.mark.skipif(ck.settings(ck.host_flags()).get("ATEN_CPU_CAPABILITY") != "avx2",
                    reason="this host is not pinned at AVX2")
def test_this_test_process_runs_at_the_pinned_level():
    """pytest and its xdist workers: tests/conftest.py imports helo before NumPy."""
    import numpy  # noqa: F401
    import torch
    from numpy._core._multiarray_umath import __cpu_features__ as feats
    assert os.environ.get("HELO_CPU_KERNELS") == "x86-64-v3"
    assert torch.backends.cpu.get_cpu_capability() == "AVX2"
    assert not [k for k in ("X86_V4", "AVX512_ICL", "AVX512_SPR") if feats.get(k)]
