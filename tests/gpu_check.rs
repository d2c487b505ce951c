//! `scripts/gpu-check --dry-run`: every step of the GPU check but CUDA, on the
//! CPU, with the suite's own build (so the script cannot rot between GPUs).

use std::process::Command;

#[test]
fn the_gpu_check_runs_dry_on_the_cpu_and_prints_its_summary() {
    let root = env!("CARGO_MANIFEST_DIR");
    let o = Command::new("bash")
        .arg(format!("{root}/scripts/gpu-check"))
        .arg("--dry-run")
        .env("ADVP_BIN", env!("CARGO_BIN_EXE_advp"))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("bash runs the script");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("advp gpu-check (dry run): CPU (dry run)"),
        "{out}"
    );
    for line in [
        "device       pass",
        "table2       pass",
        "fp32         pass",
        "bf16         pass",
        "bf16 speed-up ",
        "ranks1       pass",
        "ranksN       pass",
        "ranks: one epoch ",
    ] {
        assert!(out.contains(line), "{line} missing from\n{out}");
    }
    // Both precisions' accuracies are numbers.
    let acc = out
        .lines()
        .find(|l| l.contains("accuracy (clean | ε 4):"))
        .unwrap_or_else(|| panic!("no accuracy line in\n{out}"));
    assert_eq!(acc.matches(" ± ").count(), 4, "{acc}");
    // The shrunk Table 2 is in the summary.
    assert!(out.contains("| benign |"), "{out}");
}

/// Built against a CUDA wheel (libtorch_cuda beside libtorch_cpu in the
/// folder of the binary's rpath), the binary needs libtorch_cuda: libtorch
/// registers CUDA only when that library is loaded, and advp names none of
/// its symbols, so the linker dropped it and `device auto` ran on the CPU
/// beside an idle GPU (what the first GPU check found).
#[test]
fn the_binary_loads_libtorch_cuda_where_the_wheel_has_it() {
    let o = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_advp")])
        .output()
        .expect("readelf (binutils) runs");
    let dynamic = String::from_utf8_lossy(&o.stdout);
    let rpaths: Vec<&str> = dynamic
        .lines()
        .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .flat_map(|p| p.split(':'))
        .collect();
    let cuda_wheel = rpaths
        .iter()
        .any(|dir| std::path::Path::new(dir).join("libtorch_cuda.so").exists());
    if !cuda_wheel {
        eprintln!(
            "skipped: the libtorch linked has no libtorch_cuda (a CPU build); rpaths {rpaths:?}"
        );
        return;
    }
    assert!(
        dynamic.contains("Shared library: [libtorch_cuda.so]"),
        "the binary does not load libtorch_cuda, so it can never see a GPU:\n{dynamic}"
    );
}
