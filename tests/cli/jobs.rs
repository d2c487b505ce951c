//! `--jobs`: nodes run in their own processes with the same results.

use super::*;

#[test]
fn jobs_2_runs_nodes_in_their_own_processes_with_the_same_results() {
    // Each of the two processes gets half the cores; the one-process run gets
    // as many, since on some CPUs libtorch's kernels round differently with
    // another thread count (`machine.json` records it).
    let share = (std::thread::available_parallelism().map_or(1, |c| c.get()) / 2).max(1);
    let one = Run::new();
    one.write("p.advp", PARALLEL);
    let threads = share.to_string();
    let o = one.advp_with(
        &["run", "p.advp", "--quiet", "--out", "out"],
        &[("ADVP_THREADS", threads.as_ref())],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let two = Run::new();
    two.write("p.advp", PARALLEL);
    let o = two.advp(&["run", "p.advp", "--jobs", "2", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // `a` and `b` run at once, each on its share of the CPU; `e` after both.
    for node in ["a", "b", "e"] {
        assert!(err.contains(&format!("{node}: started on")), "{err}");
    }
    let (sa, sb, fe) = (
        err.find("a: started").unwrap(),
        err.find("b: started").unwrap(),
        err.find("e: started").unwrap(),
    );
    let (fa, fb) = (
        err.find("a: finished").unwrap(),
        err.find("b: finished").unwrap(),
    );
    assert!(sa < fb && sb < fa, "a and b overlap: {err}");
    assert!(fe > fa && fe > fb, "e waits for both: {err}");
    assert_eq!(rows_in(one.dir.path()), rows_in(two.dir.path()));
    assert!(two.dir.path().join("out/p.html").exists());

    // A failing node: what reads it is not started, the rest finishes, exit 1.
    let bad = Run::new();
    bad.write(
        "p.advp",
        &format!(
            "{PARALLEL}data gone = tensors(path: \"broken.safetensors\")\ntrain c = standard(net, gone, epochs: 1)\neval f = robustness([c], gone.test)\n"
        ),
    );
    bad.write("broken.safetensors", "not a safetensors file");
    let o = bad.advp(&["run", "p.advp", "--jobs", "2", "--out", "out"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("c: failed"), "{err}");
    assert!(err.contains("f: cancelled"), "{err}");
    assert!(err.contains("e: finished"), "{err}");
    assert_eq!(rows_in(one.dir.path()), rows_in(bad.dir.path()));
}
