//! The Qdrant store against a real server: the vector store contract, the
//! alias, failover past a node that hangs.

use super::*;
use crate::index::vector::contract;

fn server() -> Option<Arc<QdrantServer>> {
    test_server("the vector store contract")
}

#[test]
fn a_qdrant_collection_keeps_the_vector_store_contract() -> crate::Result<()> {
    let Some(server) = server() else {
        return Ok(());
    };
    let corpus = format!("contract{}", std::process::id());
    let store = server.create(&corpus, GenerationId(1))?;
    contract::fill(&store)?;
    contract::check(&store)?;
    // What a replica copies: every chunk and vector, in id order.
    let (chunks, vectors) = contract::points();
    let records = store.records()?;
    assert_eq!(records.len(), chunks.len());
    for (i, (chunk, vector, sentences)) in records.iter().enumerate() {
        assert!(sentences.is_empty(), "point {i}: {sentences:?}");
        assert_eq!(chunk.doc_id, chunks[i].doc_id);
        assert_eq!(chunk.date, chunks[i].date);
        assert_eq!(chunk.text, chunks[i].text);
        let dot: f32 = vector.iter().zip(&vectors[i]).map(|(a, b)| a * b).sum();
        assert!((dot - 1.0).abs() < 1e-4, "point {i}: {dot}");
    }
    server.delete_others(&corpus, &[])?;
    Ok(())
}

#[test]
fn the_alias_moves_forward_only_and_old_collections_go() -> crate::Result<()> {
    let Some(server) = server() else {
        return Ok(());
    };
    let corpus = format!("alias{}", std::process::id());
    assert_eq!(server.served(&corpus)?, None);
    for g in 1..=3 {
        contract::fill(&server.create(&corpus, GenerationId(g))?)?;
        server.publish(&corpus, GenerationId(g), &format!("manifest {g}"))?;
        assert_eq!(server.served(&corpus)?, Some(GenerationId(g)));
        assert_eq!(
            server.manifest(&corpus, GenerationId(g))?,
            format!("manifest {g}")
        );
    }
    // Another build's generation is neither taken over nor published over.
    assert!(matches!(
        server.create(&corpus, GenerationId(3)),
        Err(Error::IndexBusy(_))
    ));
    assert!(matches!(
        server.publish(&corpus, GenerationId(2), "late"),
        Err(Error::IndexBusy(_))
    ));
    assert_eq!(server.served(&corpus)?, Some(GenerationId(3)));
    let deleted = server.delete_others(&corpus, &[GenerationId(3)])?;
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    contract::check(&server.open(&corpus, GenerationId(3))?)?;
    server.delete_others(&corpus, &[])?;
    Ok(())
}

#[test]
fn an_unreachable_server_is_unavailable_naming_the_address() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    match QdrantServer::connect(&QdrantAddress::server(&url)) {
        Err(Error::VectorUnavailable(m)) => assert!(m.contains(&url), "{m}"),
        Err(e) => panic!("expected VectorUnavailable, got {e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}

#[test]
fn a_node_that_hangs_gives_its_calls_to_the_next_within_the_timeout() -> crate::Result<()> {
    let Ok(good) = std::env::var("CANDOR_TEST_QDRANT_URL") else {
        // Says why it is skipped, or fails where a server should be.
        assert!(server().is_none());
        return Ok(());
    };
    // A node that takes connections and never answers, as a stopped
    // process does, then one that is gone, then the real server.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut address = QdrantAddress::server(&format!("http://{}", hanging.local_addr().unwrap()));
    address.urls.push(gone);
    address.urls.push(good.clone());
    address.timeout = Duration::from_secs(4);
    let started = Instant::now();
    let server = QdrantServer::connect(&address)?;
    assert!(
        started.elapsed() < address.timeout,
        "{:?}",
        started.elapsed()
    );
    // Later calls go straight to the node that answered.
    let started = Instant::now();
    assert_eq!(server.served("nothing-here")?, None);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // With no node answering, a call fails within the timeout, naming them.
    address.urls.pop();
    address.timeout = Duration::from_millis(1500);
    let started = Instant::now();
    match QdrantServer::connect(&address) {
        Err(Error::VectorUnavailable(m)) => {
            assert!(m.contains(&address.urls[0]) && m.contains("1500 ms"), "{m}")
        }
        Err(e) => panic!("expected VectorUnavailable, got {e}"),
        Ok(_) => panic!("connected to no server"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    drop(hanging);
    Ok(())
}
