//! Adds an rpath to libtorch's `lib/` so the binary and tests run without
//! LD_LIBRARY_PATH, records libtorch's version, and compiles the autocast shim.
use std::path::PathBuf;
use std::process::Command;

/// What `print(…)` in `code` writes, trimmed, run by the interpreter that
/// `var` names (else `default`); `None` if it fails or prints nothing.
fn python(var: &str, default: &str, code: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={var}");
    let exe = std::env::var(var).unwrap_or_else(|_| default.into());
    let out = Command::new(exe)
        .args(["-c", code])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The interpreter tch's build asks for the wheel's libtorch.
fn torch_python(code: &str) -> Option<String> {
    python("PYTHON_SYS_EXECUTABLE", "python", code)
}

fn libtorch_lib() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    if std::env::var("LIBTORCH_USE_PYTORCH").is_ok() {
        return torch_python(
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        )
        .map(PathBuf::from);
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
    torch_python("import torch; print(torch.__version__)").unwrap_or_else(|| "unknown".into())
}

/// The folder of the libpython that PyO3 links (the interpreter it builds
/// with: `PYO3_PYTHON`, else `python3` on the PATH).
fn python_libdir() -> Option<PathBuf> {
    python(
        "PYO3_PYTHON",
        "python3",
        "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')",
    )
    .map(PathBuf::from)
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
        // The site-packages that holds this torch (a wheel's `torch/lib`, not
        // a LIBTORCH of its own): the Python bridge imports torch from there,
        // so one libtorch serves both sides.
        let torch = lib
            .parent()
            .filter(|t| t.file_name().is_some_and(|n| n == "torch"));
        if let Some(site) = torch.and_then(|t| t.parent()) {
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
