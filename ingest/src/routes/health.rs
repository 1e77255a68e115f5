//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers and has
//! every migration this build knows applied, unchanged).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use deadpool_postgres::GenericClient as _;
use serde_json::json;

use crate::error::ErrorChain;
use crate::startup::AppState;

/// How long the readiness check waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The migrations of `sql/`, embedded at compile time, to compare with the database's.
mod embedded {
    refinery::embed_migrations!("../sql");
}

const SELECT_APPLIED: &str = "SELECT version, checksum FROM refinery_schema_history";

/// `GET /health/live`.
pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// `GET /health/ready`: `200` when ready, else `503` with the reason.
pub(super) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(READY_TIMEOUT, check(&state)).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(reason)) => not_ready(&reason),
        Err(_) => not_ready("the database did not answer within 2 s"),
    }
}

fn not_ready(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({"status": "not ready", "reason": reason}))
}

async fn check(state: &AppState) -> Result<(), String> {
    let client = state
        .pool
        .get()
        .await
        .map_err(|error| format!("the database cannot be reached: {}", ErrorChain(&error)))?;
    let rows = client
        .query(SELECT_APPLIED, &[])
        .await
        .map_err(|error| format!("the migrations cannot be read: {}", ErrorChain(&error)))?;
    let applied: Vec<(i32, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    migrations_current(&applied)
}

/// Whether every embedded migration is applied with the same checksum. Migrations newer than this
/// build (a rolling upgrade) do not make it unready: migrations are forward-only and additive.
fn migrations_current(applied: &[(i32, String)]) -> Result<(), String> {
    for migration in embedded::migrations::runner().get_migrations() {
        let version = migration.version();
        let name = format!("V{}__{}", migration.version(), migration.name());
        match applied.iter().find(|(v, _)| *v == version) {
            None => {
                return Err(format!(
                    "migration {name} is not applied: run `tagtrail migrate`"
                ));
            }
            Some((_, checksum)) if *checksum != migration.checksum().to_string() => {
                return Err(format!(
                    "migration {name} was applied with different contents"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_changed_migration_is_not_current() {
        let all: Vec<(i32, String)> = embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| (m.version(), m.checksum().to_string()))
            .collect();
        assert!(!all.is_empty());
        assert_eq!(migrations_current(&all), Ok(()));
        assert!(migrations_current(&all[..all.len() - 1]).is_err());
        let mut changed = all.clone();
        changed[0].1.push('0');
        assert!(migrations_current(&changed).is_err());
    }
}
