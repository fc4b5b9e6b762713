//! Scale-out on a three-node Qdrant cluster under a steady answer load: nodes
//! killed, stopped and restarted, the whole cluster lost and back, and
//! reindexes, one with a node killed mid-way.

use std::time::Duration;

use candor_e2e::cli::{candor_ok, index_argv};
use candor_e2e::cluster::{fresh_question, under_load, Cluster, Outcomes};
use candor_e2e::corpus::{add_services, clinic};
use candor_e2e::files::write;
use candor_e2e::http::{
    admin, post, sample, scrape, served_generation, start_full_reindex, wait_for_job,
};
use candor_e2e::qdrant::qdrant_bin;
use candor_e2e::server::{eventually, Starting, ADMIN_TOKEN};
use serde_json::{json, Value};

#[test]
fn a_three_node_cluster_serves_through_node_faults_restarts_and_reindexes() {
    let Some(bin) = qdrant_bin("the Qdrant cluster test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut cluster = Cluster::start(&bin, root);
    let c = clinic(root, "clinic", "");
    // Enough documents that a reindex takes a few seconds under load.
    add_services(&c, 400);
    let timeout_ms = 3000;
    let urls: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("\"http://127.0.0.1:{}\"", n.grpc))
        .collect();
    let config = root.join("candor.toml");
    write(
        &config,
        include_str!("../fixtures/scale_out/cluster.toml")
            .replace("{urls}", &urls.join(", "))
            .replace("{timeout_ms}", &timeout_ms.to_string()),
    );
    let config_arg = config.to_str().unwrap();
    let data = root.join("data");
    candor_ok(
        root,
        &[
            &["--deployment", config_arg][..],
            &index_argv(&c, &data, &[]),
        ]
        .concat(),
    );
    let (params, points) = cluster.collection("candor_clinic_000001");
    assert_eq!(
        (
            &params["shard_number"],
            &params["replication_factor"],
            &params["read_fan_out_factor"]
        ),
        (&json!(2), &json!(2), &json!(1)),
        "{params}"
    );
    let server = Starting::spawn(
        root,
        config_arg,
        &root.join("corpora"),
        &data,
        root.join("candor.log"),
    )
    .ready();
    let chunks = || {
        sample(
            &scrape(&server.base),
            "candor_corpus_chunks",
            &[("corpus", "clinic")],
        )
        .unwrap() as u64
    };
    assert_eq!(points, chunks());

    let mut table = Vec::new();
    let mut report = |fault: &str, o: &Outcomes| {
        table.push(format!(
            "| {fault} | {} | {} | {} | {} |",
            o.sent,
            o.answered,
            o.unavailable,
            o.other.len()
        ));
    };
    let settle = |cluster: &Cluster, generation: u64| {
        assert!(
            eventually(Duration::from_secs(60), || cluster
                .all_active(&format!("candor_clinic_{generation:06}"))),
            "the replicas never became active again"
        );
    };

    // One node killed while requests are in flight, then restarted: the node
    // the server talks to first, so calls in flight on it break.
    let o = under_load(&server.base, || {
        cluster.kill(0);
        std::thread::sleep(Duration::from_secs(3));
        cluster.up(0);
        settle(&cluster, 1);
    });
    report(
        "one node of three killed (SIGKILL) mid-traffic, restarted",
        &o,
    );
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}\n{}",
        server_errors(root)
    );

    // One node cut off: stopped for 10 s, so its connections hang.
    let o = under_load(&server.base, || {
        cluster.signal(1, "-STOP");
        std::thread::sleep(Duration::from_secs(10));
        cluster.signal(1, "-CONT");
        settle(&cluster, 1);
    });
    report("one node of three stopped (SIGSTOP) for 10 s", &o);
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}\n{}",
        server_errors(root)
    );

    // The whole cluster cut off (every node stopped): every request is 503
    // within the timeout, and serving resumes by itself once they run again.
    let o = under_load(&server.base, || {
        for i in 0..3 {
            cluster.signal(i, "-STOP");
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    for i in 0..3 {
        cluster.signal(i, "-CONT");
    }
    report("all three nodes stopped (SIGSTOP) for 5 s", &o);
    assert!(o.sent > 0 && o.unavailable + o.answered == o.sent, "{o:?}");
    assert!(o.unavailable > 0, "{o:?}");
    let slowest_stopped = o.slowest_unavailable;
    assert!(
        slowest_stopped < Duration::from_millis(timeout_ms + 2000),
        "{o:?}"
    );
    settle(&cluster, 1);

    // The whole cluster killed: 503 at once; restarted on the same storage,
    // answers come back without restarting Candor.
    for i in 0..3 {
        cluster.kill(i);
    }
    let o = under_load(&server.base, || std::thread::sleep(Duration::from_secs(2)));
    report("all three nodes killed (SIGKILL)", &o);
    assert!(o.sent > 0 && o.unavailable == o.sent, "{o:?}");
    let restarted = std::time::Instant::now();
    cluster.up_all();
    assert!(
        eventually(Duration::from_secs(60), || post(
            &server.base,
            "/v1/answer",
            &fresh_question()
        )
        .0 == 200),
        "serving never resumed"
    );
    let recovered = restarted.elapsed();
    settle(&cluster, 1);
    let o = under_load(&server.base, || std::thread::sleep(Duration::from_secs(2)));
    report(
        "after all three restarted (same storage), Candor not restarted",
        &o,
    );
    assert!(o.answered > 0 && o.answered == o.sent, "{o:?}");

    // A full reindex under load: no failure, and each client's answers move
    // from one generation to the next once.
    let o = under_load(&server.base, || {
        let job = wait_for_job(
            &server.base,
            &start_full_reindex(&server.base, "clinic")["job_id"],
        );
        assert_eq!(job["phase"], "done", "{job}");
    });
    report("full reindex", &o);
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}\n{}",
        server_errors(root)
    );
    for g in &o.generations {
        assert!(g.windows(2).all(|w| w[0] <= w[1]), "{g:?}");
        assert!(g.iter().all(|g| [1, 2].contains(g)), "{g:?}");
    }
    assert_eq!(served_generation(&server.base), 2);
    settle(&cluster, 2);

    // A node killed mid-reindex: the job completes or fails cleanly, and the
    // alias names a whole generation.
    let mut killed_in = Value::Null;
    let mut outcome = String::new();
    let o = under_load(&server.base, || {
        let id = start_full_reindex(&server.base, "clinic")["job_id"].clone();
        assert!(eventually(Duration::from_secs(60), || {
            let (_, job) = admin(
                "GET",
                &server.base,
                &format!("/admin/jobs/{id}"),
                Some(ADMIN_TOKEN),
                None,
            );
            killed_in = job["phase"].clone();
            killed_in != "discovering" && killed_in != "parsing"
        }));
        cluster.kill(2);
        let job = wait_for_job(&server.base, &id);
        assert!(job["phase"] == "done" || job["phase"] == "failed", "{job}");
        outcome = match job["error"].as_str() {
            Some(e) => format!("failed: {e}"),
            None => job["phase"].as_str().unwrap_or_default().to_owned(),
        };
    });
    report(
        &format!("one node killed mid-reindex ({killed_in}; the job: {outcome})"),
        &o,
    );
    assert!(
        killed_in == "embedding" || killed_in == "indexing",
        "the node was killed when the job was {killed_in}"
    );
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}\n{}",
        server_errors(root)
    );
    let served = served_generation(&server.base);
    assert!([2, 3].contains(&served), "{served}");
    let (_, points) = cluster.collection(&format!("candor_clinic_{served:06}"));
    assert_eq!(points, chunks(), "generation {served} is whole");

    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "cluster faults (3 nodes, 2 shards, replication 2, timeout {timeout_ms} ms; slowest 503 with all stopped {} ms; answering again {:.1} s after all were restarted):\n| fault | sent | answered | 503 vector_store_unavailable | other |\n|---|---|---|---|---|\n{}",
        slowest_stopped.as_millis(),
        recovered.as_secs_f64(),
        table.join("\n")
    );
}

/// The server's log lines of requests that failed with 500, whose detail the client
/// does not see: what an unexpected "internal error" was.
fn server_errors(root: &std::path::Path) -> String {
    std::fs::read_to_string(root.join("candor.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"status\":500"))
        .collect::<Vec<_>>()
        .join("\n")
}
