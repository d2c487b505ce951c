//! Adds an rpath to libtorch's `lib/` so the binary and tests run without
//! LD_LIBRARY_PATH, records libtorch's version, and compiles the autocast shim.
use std::path::PathBuf;
use std::process::Command;

fn libtorch_lib() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    if std::env::var("LIBTORCH_USE_PYTORCH").is_ok() {
        let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python".into());
        let out = Command::new(python)
            .args([
                "-c",
                "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
            ])
            .output()
            .ok()?;
        if out.status.success() {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    None
}

/// The libtorch version linked: `build-version` of a user's `LIBTORCH`, or
/// the wheel's `torch.__version__`; recorded with every result.
fn libtorch_version(lib: &std::path::Path) -> String {
    if let Some(v) = lib
        .parent()
        .and_then(|root| std::fs::read_to_string(root.join("build-version")).ok())
    {
        return v.trim().to_string();
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python".into());
    Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The folder of the libpython that PyO3 links (the interpreter it builds
/// with: `PYO3_PYTHON`, else `python3` on the PATH).
fn python_libdir() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let mut version = "unknown".to_string();
    if let Some(lib) = libtorch_lib() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        // libtorch finds a GPU only once libtorch_cuda is loaded (its static
        // initialisers register CUDA); advp names none of its symbols, so
        // the linker's --as-needed dropped it and `device auto` ran on the
        // CPU beside an idle GPU. A CUDA wheel's libtorch_cuda is linked
        // whole (on a machine without a GPU it loads and finds none).
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        version = libtorch_version(&lib);
        // The site-packages that holds this torch: the Python bridge imports
        // torch from there, so one libtorch serves both sides.
        if let Some(site) = lib.parent().and_then(|t| t.parent()) {
            println!("cargo:rustc-env=ADVP_TORCH_SITE={}", site.display());
        }
    }
    println!("cargo:rustc-env=ADVP_LIBTORCH_VERSION={version}");
    // The Python bridge embeds the venv's CPython: its libpython is found
    // where that interpreter keeps it, not a system one of the same name.
    if std::env::var_os("CARGO_FEATURE_PYTHON").is_some() {
        if let Some(dir) = python_libdir() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("csrc/autocast.cpp")
        .compile("advp_autocast");
}
