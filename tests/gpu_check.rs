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
