//! `/openapi.json`: the API description, generated from the request and response
//! types and the handlers' annotations, so it follows the code. The end-to-end
//! tests check every route's real responses against it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The description of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "Candor", description = "Cited answers from your own documents, or an open statement that they do not say."),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        super::openapi_json,
        super::corpora,
        super::search,
        super::answer::answer,
        super::feedback,
        super::admin::reindex,
        super::admin::jobs,
        super::admin::job,
        super::admin::cancel,
        super::admin::reload_plugins,
        super::admin::reload_keys,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Only when the server runs with a keys file (`--keys`).
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, when the server is started with `--keys`: `Authorization: Bearer <key>`",
                    ))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published description (`docs/openapi.json`) is the one the server
    /// serves: a change to the API shows up in review as a change to that file.
    /// `CANDOR_WRITE_OPENAPI=1` rewrites it after an intended change.
    #[test]
    fn the_published_description_is_the_served_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let served = ApiDoc::openapi().to_pretty_json().expect("serialisable") + "\n";
        if std::env::var_os("CANDOR_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &served).expect("docs/ is writable");
        }
        let published = std::fs::read_to_string(&path).expect("docs/openapi.json exists");
        assert!(
            published == served,
            "docs/openapi.json differs from the served description; rerun with CANDOR_WRITE_OPENAPI=1 if the change is intended"
        );
    }
}
