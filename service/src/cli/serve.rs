//! `candor serve`: listen at once, load the engine meanwhile (so `/readyz`
//! says why it is not ready yet), then serve until a signal.

use super::*;

pub(super) fn serve_cmd(args: &ServeArgs, deployed: &Deployed) -> anyhow::Result<()> {
    if args.max_question_chars == 0 {
        bail!("--max-question-chars must be at least 1");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(async move {
        let addr = args.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        // One signal stops both the server and a load still under way.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // Listening first: a probe sees 503 from /readyz while the model and the
        // corpora load, rather than a refused connection.
        let startup = candor::api::Startup::default();
        let server = tokio::spawn(candor::api::serve(
            startup.clone(),
            listener,
            args.edge(),
            until_stopped(stopped.clone()),
        ));
        tracing::info!(%addr, "listening; loading the model and the corpora");
        let (place, cors) = (args.place.clone(), args.cors_origin.clone());
        let limits = (args.max_question_chars, args.max_pending.map(|n| n as usize));
        let (deployed, waiting, keys) = (deployed.clone(), startup.clone(), args.keys.clone());
        let load = tokio::task::spawn_blocking(move || {
            let waiting = |why| waiting.waiting(why);
            load_state(&place, &deployed, &waiting, (cors, keys), limits)
        });
        let state = tokio::select! {
            state = load => state??,
            () = until_stopped(stopped) => {
                tracing::info!("stopped while loading");
                return server.await?.context("server failed");
            }
        };
        let example = state
            .answerer
            .corpora()
            .list()
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        startup.ready(state);
        outln!(
            "ready on http://{addr}\ntry: curl -s http://{addr}/v1/answer -H 'content-type: application/json' -d '{{\"question\":\"How do I back up the database?\",\"corpus\":\"{example}\"}}'"
        );
        server.await?.context("server failed")
    });
    // A load abandoned by a stop may still hold a blocking thread: do not wait for it.
    runtime.shutdown_background();
    served
}

/// Everything a server serves: corpora, guardrails, jobs and watches, admin
/// access, API keys, the feedback store.
fn load_state(
    place: &Place,
    deployed: &Deployed,
    waiting: &dyn Fn(Option<String>),
    (cors_origins, keys): (Vec<candor::api::Origin>, Option<PathBuf>),
    (max_question_chars, max_pending): (usize, Option<usize>),
) -> anyhow::Result<candor::api::AppState> {
    // Before the model loads: a bad keys file fails the start at once.
    let keys = match keys {
        Some(path) => {
            let corpora = discover_corpora(&place.corpora)?;
            let names = corpora.iter().map(|c| c.config.name.clone());
            let ring = candor::api::Keyring::load(&path, names).map_err(anyhow::Error::msg)?;
            Some(Arc::new(ring))
        }
        None => None,
    };
    let service = Service::open(
        &Settings {
            corpora: place.corpora.clone(),
            data_dir: place.data_dir.clone(),
            qdrant: deployed.qdrant.clone(),
            max_question_chars,
            max_pending,
        },
        waiting,
    )?;
    let admin = match std::env::var(ADMIN_TOKEN_ENV) {
        Ok(token) if !token.is_empty() => {
            Some(Arc::new(candor::api::Admin::new(&token, service.jobs)))
        }
        _ => {
            tracing::warn!("admin routes are disabled: {ADMIN_TOKEN_ENV} is not set");
            None
        }
    };
    Ok(candor::api::AppState {
        answerer: service.answerer,
        admin,
        feedback: Some(service.feedback),
        cors_origins,
        keys,
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
