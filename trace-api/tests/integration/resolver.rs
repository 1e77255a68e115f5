//! The GS1-Conformant Resolver rules (the public resolver test suite, gs1/GS1DL-resolver-testsuite,
//! Conformance 1.2), one section each, run against the service. Rules this resolver does not meet
//! yet are named at the end, with why.

use serde_json::Value;

use crate::common::{Pipeline, header, object};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
const SCAN: &str = "/01/80614141123458/21/6789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_meets_the_conformance_rules() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    let anchor = format!("{}{SCAN}", pipeline.trace);
    let linkset_link =
        format!("<{anchor}?linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\"");

    // SHALL support GET, HEAD and OPTIONS (methodsCheck); other methods are refused, naming
    // those in Allow.
    for method in ["GET", "HEAD", "OPTIONS"] {
        let (status, _, _) = pipeline.request_raw(method, SCAN).await;
        assert!(status == 200 || status == 204, "{method}: {status}");
    }
    let (status, headers, _) = pipeline.request_raw("POST", SCAN).await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("GET, HEAD, OPTIONS"));

    // SHALL support CORS (corsCheck): any origin, the preflight answered.
    let (_, headers, _) = pipeline
        .get_with(SCAN, &[("Origin", "https://shop.example")])
        .await;
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    let (status, headers, _) = pipeline.request_raw("OPTIONS", SCAN).await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS")
    );

    // SHALL validate the URI and report errors with 400, never a 200 that says "error"
    // (reportWith400): a wrong check digit, a GTIN too short.
    for bad in ["/01/80614141123459/21/6789", "/01/806141/21/6789"] {
        let (status, headers, _) = pipeline.get_raw(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/problem+json"),
            "{bad}"
        );
    }

    // SHALL recognise one link as the default, answered here (defaultLink), with the linkset in
    // a Link header.
    let (status, headers, body) = pipeline.get_raw(SCAN).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "link"), Some(linkset_link.as_str()));
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(answer["verdict"].is_string(), "{answer}");

    // linkType=linkset answers the list of links, not a redirect (ltLinksetNoRedirect); its
    // subject is the request URI, and every link has its target, type and title.
    let (status, headers, body) = pipeline.get_raw(&format!("{SCAN}?linkType=linkset")).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/linkset+json")
    );
    let linkset: Value = serde_json::from_slice(&body).unwrap();
    let links = linkset["linkset"][0].as_object().unwrap();
    assert_eq!(links["anchor"], anchor.as_str());
    let mut types = 0;
    for (relation, targets) in links {
        if relation == "anchor" || relation == "itemDescription" {
            continue;
        }
        assert!(relation.starts_with("https://"), "{relation}");
        for target in targets.as_array().unwrap() {
            assert!(
                target["href"].is_string() && target["title"].is_string(),
                "{target}"
            );
        }
        types += 1;
    }
    assert!(types >= 4, "{linkset}");

    // SHALL redirect to the requested link type when it has one, with the linkset in Link
    // even when redirecting; a link type it does not have is a 404 (specificLinkTypeNotFound).
    let (status, headers, _) = pipeline
        .request_raw("GET", &format!("{SCAN}?linkType=gs1:traceability"))
        .await;
    assert_eq!(status, 307);
    assert!(
        header(&headers, "location").is_some_and(|to| to.ends_with("/history")),
        "{headers:?}"
    );
    assert_eq!(header(&headers, "link"), Some(linkset_link.as_str()));
    let (status, _, _) = pipeline.get_raw(&format!("{SCAN}?linkType=gs1:pip")).await;
    assert_eq!(status, 404);

    // SHALL provide a resolver description file (rdFile).
    let (status, description) = pipeline.get("/.well-known/gs1resolver").await;
    assert_eq!(status, 200);
    assert_eq!(description["resolverRoot"], pipeline.trace.as_str());
    assert_eq!(
        description["supportedPrimaryKeys"],
        serde_json::json!(["01", "00"])
    );

    // SHOULD tolerate trailing slashes (trailingSlash): the same answer.
    for slashed in [
        format!("{SCAN}/"),
        format!("{SCAN}//?linkType=gs1:verificationService"),
    ] {
        let (status, headers, body) = pipeline.get_raw(&slashed).await;
        assert_eq!(status, 200, "{slashed}");
        assert_eq!(header(&headers, "link"), Some(linkset_link.as_str()));
        let again: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(again["verdict"], answer["verdict"], "{slashed}");
        assert_eq!(again["item"], answer["item"], "{slashed}");
    }
    // Only Digital Link paths: another route with a slash is still no route.
    let (status, _, _) = pipeline.get_raw("/log/checkpoint/").await;
    assert_eq!(status, 404);

    // SHOULD walk up (walkUp): a link with fewer qualifiers than an item's (a lot of a GTIN, or
    // the GTIN alone) is answered for what it names, with its linkset in `Link` and any origin
    // allowed, and so is its trailing-slash spelling.
    for walked in [
        "/01/80614141123458/10/LOT7",
        "/01/80614141123458",
        "/01/80614141123458/",
    ] {
        let (status, headers, body) = pipeline.get_raw(walked).await;
        assert_eq!(status, 200, "{walked}");
        assert!(
            header(&headers, "link").is_some_and(|link| link.contains("rel=\"linkset\"")),
            "{headers:?}"
        );
        assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["verdict"], "unknown", "{answer}");
        assert_eq!(answer["recalled"], false, "{answer}");
    }

    // Not met yet (issue 27): compressed Digital Links (decompression and owl:sameAs); and
    // passing the query string on when redirecting (qsPassedOn, a warning in the suite): both
    // targets are this service's own routes, which refuse parameters they do not take, so a
    // tap's data is not passed on.
    pipeline.stop().await;
}
