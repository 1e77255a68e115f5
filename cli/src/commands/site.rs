//! `tagtrail site`: sites and the locations (readPoint / bizLocation ids) they speak for, in
//! ingest's registry.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use ledger::SiteId;
use registry::location::SiteLocation;

/// The database connection every registry command takes.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of the ledger database, as its owner (postgres://user:password@host:port/database).
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: String,
}

// The doc comments are `--help` text, printed as written: its example URL stays bare.
#[allow(rustdoc::bare_urls)]
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Register a site, optionally with its first locations.
    ///
    /// A location is an SGLN EPC URI (urn:epc:id:sgln:0614141.00777.dock-1), a GS1 Digital Link with
    /// a GLN (https://id.gs1.org/414/0614141007776/254/dock-1; both spellings match each other), the
    /// pattern urn:epc:idpat:sgln:0614141.00777.* (every extension of one GLN), or any other URI
    /// (matched exactly).
    Add {
        /// The site's id (no spaces, at most 128 bytes).
        #[arg(long = "id", value_name = "SITE")]
        site: String,
        /// A display name.
        #[arg(long, default_value = "")]
        name: String,
        /// The organisation it belongs to (registered with `tagtrail org add`). Without it, the
        /// site is an organisation of its own, with the site's id.
        #[arg(long = "org", value_name = "ORGANISATION")]
        organisation: Option<String>,
        /// Locations the site speaks for (repeat the flag for several).
        #[arg(long = "location", value_name = "LOCATION")]
        locations: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Add locations to a site.
    AddLocation {
        #[arg(long, value_name = "SITE")]
        site: String,
        /// The locations to add.
        #[arg(required = true, value_name = "LOCATION")]
        locations: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Remove a location from a site (refused while a device is restricted to it).
    RemoveLocation {
        #[arg(long, value_name = "SITE")]
        site: String,
        #[arg(value_name = "LOCATION")]
        location: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Say where a location of a site is (WGS 84 degrees), or clear it with --clear. The consumer's
    /// verdict reads it: two sightings farther apart than one object can travel in the time between
    /// them make an item suspicious.
    Place {
        /// The location (as registered, or any spelling of it).
        #[arg(long, value_name = "LOCATION")]
        location: String,
        /// Degrees north (negative: south), -90 to 90.
        #[arg(long, allow_negative_numbers = true, required_unless_present = "clear")]
        latitude: Option<f64>,
        /// Degrees east (negative: west), -180 to 180.
        #[arg(long, allow_negative_numbers = true, required_unless_present = "clear")]
        longitude: Option<f64>,
        /// Forget where it is.
        #[arg(long, conflicts_with_all = ["latitude", "longitude"])]
        clear: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the sites and their locations.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl SiteCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Add {
                site,
                name,
                organisation,
                locations,
                database,
            } => {
                let site = parse_site(&site)?;
                let organisation = organisation
                    .as_deref()
                    .map(super::org::parse_organisation)
                    .transpose()?;
                let locations = parse_locations(&locations)?;
                block_on_db(&database, |mut client| async move {
                    registry::add_site(&client, &site, &name, organisation.as_ref())
                        .await
                        .context("Failed to add the site")?;
                    registry::add_site_locations(&mut client, &site, &locations)
                        .await
                        .context("Failed to add the site's locations")?;
                    writeln!(
                        out,
                        "site {} added with {} location(s)",
                        site.as_str(),
                        locations.len()
                    )?;
                    for location in &locations {
                        writeln!(out, "  {location}")?;
                    }
                    Ok(())
                })?;
            }
            Self::AddLocation {
                site,
                locations,
                database,
            } => {
                let site = parse_site(&site)?;
                let locations = parse_locations(&locations)?;
                block_on_db(&database, |mut client| async move {
                    registry::add_site_locations(&mut client, &site, &locations)
                        .await
                        .context("Failed to add the locations")?;
                    for location in &locations {
                        writeln!(out, "site {}: location {location} added", site.as_str())?;
                    }
                    Ok(())
                })?;
            }
            Self::RemoveLocation {
                site,
                location,
                database,
            } => {
                let site = parse_site(&site)?;
                let location = SiteLocation::parse(&location).context("Invalid location")?;
                block_on_db(&database, |mut client| async move {
                    registry::remove_site_location(&mut client, &site, &location)
                        .await
                        .context("Failed to remove the location")?;
                    writeln!(out, "site {}: location {location} removed", site.as_str())?;
                    Ok(())
                })?;
            }
            Self::Place {
                location,
                latitude,
                longitude,
                clear,
                database,
            } => {
                let location = SiteLocation::parse(&location).context("Invalid location")?;
                let place = match (clear, latitude, longitude) {
                    (true, _, _) => None,
                    (false, Some(latitude), Some(longitude)) => {
                        Some(registry::place(latitude, longitude).context("Invalid coordinates")?)
                    }
                    _ => anyhow::bail!("give --latitude and --longitude, or --clear"),
                };
                block_on_db(&database, |client| async move {
                    registry::set_location_place(&client, &location, place)
                        .await
                        .context("Failed to set the location's place")?;
                    match place {
                        Some(place) => writeln!(
                            out,
                            "location {location} is at {}, {}",
                            place.latitude, place.longitude
                        )?,
                        None => writeln!(out, "location {location}: place cleared")?,
                    }
                    Ok(())
                })?;
            }
            Self::List { database } => {
                block_on_db(&database, |client| async move {
                    for site in registry::list_sites(&client)
                        .await
                        .context("Failed to list the sites")?
                    {
                        writeln!(
                            out,
                            "{}\t{}\t{}",
                            site.site,
                            site.name,
                            site.locations.join(" ")
                        )?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

pub(crate) fn parse_site(text: &str) -> anyhow::Result<SiteId> {
    SiteId::parse(text).with_context(|| format!("Invalid site id {text:?}"))
}

pub(crate) fn parse_locations(texts: &[String]) -> anyhow::Result<Vec<SiteLocation>> {
    texts
        .iter()
        .map(|text| SiteLocation::parse(text).with_context(|| format!("Invalid location {text:?}")))
        .collect()
}

/// Runs `work` with one database connection on a small runtime.
pub(crate) fn block_on_db<F, Fut>(database: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio_postgres::Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Failed to start the async runtime")?;
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(&database.database_url, tokio_postgres::NoTls)
                .await
                .context("Failed to connect to the database")?;
        tokio::spawn(async move {
            // Errors of the connection surface on the client's calls.
            let _ = connection.await;
        });
        work(client).await
    })
}
