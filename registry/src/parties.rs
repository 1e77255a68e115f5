//! The registry as custody authority reads it: which organisation owns which company prefixes and
//! delegates to whom, which organisation each site and device reports for, and which site each
//! location belongs to. Read-only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use epcis::epc::CompanyPrefix;
use ledger::bundle::{DeviceEntry, OrganisationEntry, Participants, RecipientKeyEntry, SiteEntry};
use ledger::history::Parties;
use ledger::{DeviceId, OrganisationId, SiteId};
use tokio_postgres::GenericClient;

use crate::admin::public_key_from_db;
use crate::location::SiteLocation;
use crate::lookup::{ReadError, RegistryGeneration};
use crate::places::{Places, places};

const SELECT_ORGANISATIONS: &str = "
    SELECT o.organisation_id,
           ARRAY(SELECT company_prefix FROM organisation_prefixes p
                 WHERE p.organisation_id = o.organisation_id ORDER BY company_prefix),
           ARRAY(SELECT delegate_id FROM organisation_delegates d
                 WHERE d.organisation_id = o.organisation_id ORDER BY delegate_id),
           EXISTS(SELECT 1 FROM organisation_regulators r
                  WHERE r.organisation_id = o.organisation_id)
    FROM organisations o ORDER BY o.organisation_id";

const SELECT_SITES: &str = "
    SELECT s.site_id, s.organisation_id,
           ARRAY(SELECT location FROM site_locations l WHERE l.site_id = s.site_id
                 ORDER BY location)
    FROM sites s ORDER BY s.site_id";

/// A site's registered locations, as the administrator wrote them.
fn site_locations(row: &tokio_postgres::Row) -> Result<Vec<SiteLocation>, ReadError> {
    let written: Vec<String> = row.get(2);
    written
        .iter()
        .map(|text| {
            SiteLocation::parse(text).map_err(|error| ReadError::Corrupt {
                what: "site location",
                reason: error.to_string(),
            })
        })
        .collect()
}

const SELECT_DEVICES: &str = "
    SELECT d.device_id, d.site_id,
           ARRAY(SELECT algorithm FROM device_keys k WHERE k.device_id = d.device_id
                 ORDER BY key_number),
           ARRAY(SELECT public_key FROM device_keys k WHERE k.device_id = d.device_id
                 ORDER BY key_number)
    FROM devices d ORDER BY d.device_id";

fn corrupt(what: &'static str) -> impl Fn(ledger::IdError) -> ReadError {
    move |error| ReadError::Corrupt {
        what,
        reason: error.to_string(),
    }
}

/// Every organisation, site and device with every key each device has had: the participants
/// file (`tagtrail participants`), which verifiers read with `tagtrail verify --participants`.
/// Run it in one transaction for one snapshot.
pub async fn participants<C: GenericClient>(client: &C) -> Result<Participants, ReadError> {
    let mut organisations = Vec::new();
    for row in client.query(SELECT_ORGANISATIONS, &[]).await? {
        let delegates: Vec<String> = row.get(2);
        organisations.push(OrganisationEntry {
            id: OrganisationId::parse(row.get(0)).map_err(corrupt("organisation id"))?,
            company_prefixes: row.get(1),
            delegates: delegates
                .iter()
                .map(|id| OrganisationId::parse(id).map_err(corrupt("organisation id")))
                .collect::<Result<_, _>>()?,
            regulator: row.get(3),
            recipient_keys: Vec::new(),
        });
    }
    // Each organisation's recipient keys, current and retired, oldest first.
    let keys = crate::recipients::list_recipient_keys(client, None)
        .await
        .map_err(|error| match error {
            crate::RegistryError::Query(error) => ReadError::Query(error),
            other => ReadError::Corrupt {
                what: "recipient key",
                reason: other.to_string(),
            },
        })?;
    for info in keys {
        if let Some(organisation) = organisations
            .iter_mut()
            .find(|organisation| organisation.id == info.organisation)
        {
            organisation.recipient_keys.push(RecipientKeyEntry {
                key: info.key.to_base64(),
                retired: info.retired_at.map(|at| at.to_rfc3339()),
            });
        }
    }
    let mut sites = Vec::new();
    for row in client.query(SELECT_SITES, &[]).await? {
        sites.push(SiteEntry {
            id: SiteId::parse(row.get(0)).map_err(corrupt("site id"))?,
            organisation: OrganisationId::parse(row.get(1)).map_err(corrupt("organisation id"))?,
            locations: site_locations(&row)?
                .iter()
                .map(|location| location.as_str().to_owned())
                .collect(),
        });
    }
    let mut devices = Vec::new();
    for row in client.query(SELECT_DEVICES, &[]).await? {
        let algorithms: Vec<String> = row.get(2);
        let keys: Vec<Vec<u8>> = row.get(3);
        devices.push(DeviceEntry {
            id: DeviceId::parse(row.get(0)).map_err(corrupt("device id"))?,
            site: SiteId::parse(row.get(1)).map_err(corrupt("site id"))?,
            // A stored key that is not a key verifies nothing: it is left out.
            public_keys: algorithms
                .iter()
                .zip(&keys)
                .filter_map(|(algorithm, key)| public_key_from_db(algorithm, key))
                .collect(),
        });
    }
    Ok(Participants {
        version: 1,
        organisations,
        sites,
        devices,
    })
}

/// The parties of the registry and the generation they were read at.
pub async fn parties<C: GenericClient>(
    client: &C,
) -> Result<(RegistryGeneration, Parties), ReadError> {
    let generation = current_generation(client).await?;
    let mut parties = Parties::new();
    for row in client.query(SELECT_ORGANISATIONS, &[]).await? {
        let organisation = OrganisationId::parse(row.get(0)).map_err(corrupt("organisation id"))?;
        let prefixes: Vec<String> = row.get(1);
        for prefix in prefixes {
            let prefix = CompanyPrefix::parse(&prefix).map_err(|error| ReadError::Corrupt {
                what: "company prefix",
                reason: error.to_string(),
            })?;
            parties.add_prefix(organisation.clone(), prefix);
        }
        let delegates: Vec<String> = row.get(2);
        for delegate in delegates {
            let delegate = OrganisationId::parse(&delegate).map_err(corrupt("organisation id"))?;
            parties.add_delegate(organisation.clone(), delegate);
        }
        if row.get::<_, bool>(3) {
            parties.add_regulator(organisation);
        }
    }
    for row in client.query(SELECT_SITES, &[]).await? {
        let site = SiteId::parse(row.get(0)).map_err(corrupt("site id"))?;
        parties.add_site(
            site.clone(),
            OrganisationId::parse(row.get(1)).map_err(corrupt("organisation id"))?,
        );
        for location in site_locations(&row)? {
            parties.add_location(site.clone(), &location);
        }
    }
    for row in client
        .query("SELECT device_id, site_id FROM devices", &[])
        .await?
    {
        parties.add_device(
            DeviceId::parse(row.get(0)).map_err(corrupt("device id"))?,
            SiteId::parse(row.get(1)).map_err(corrupt("site id"))?,
        );
    }
    Ok((generation, parties))
}

async fn current_generation<C: GenericClient>(client: &C) -> Result<RegistryGeneration, ReadError> {
    let row = client
        .query_one("SELECT generation FROM registry_generation", &[])
        .await?;
    Ok(RegistryGeneration::new(row.get(0)))
}

/// Why the parties could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PartiesError {
    #[error("no database connection")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// The parties, read again when the registry's generation has changed, looked at no more often
/// than every `recheck`: a service's view of who may speak for what.
#[derive(Debug)]
pub struct PartiesCache {
    recheck: Duration,
    current: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    generation: RegistryGeneration,
    parties: std::sync::Arc<Parties>,
    places: std::sync::Arc<Places>,
    checked: Instant,
}

impl PartiesCache {
    /// A cache that asks for the registry's generation at most every `recheck`.
    pub fn new(recheck: Duration) -> Self {
        Self {
            recheck,
            current: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Cached> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn store(&self, cached: Cached) {
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cached);
    }

    /// The parties as of at most `recheck` ago; a connection is taken from `pool` only when
    /// they must be looked at again.
    pub async fn get(
        &self,
        pool: &deadpool_postgres::Pool,
    ) -> Result<std::sync::Arc<Parties>, PartiesError> {
        Ok(self.current(pool).await?.parties)
    }

    /// The parties and the places of the registry's locations ([`Places`]) together, from one
    /// look at the registry, as of at most `recheck` ago.
    pub async fn with_places(
        &self,
        pool: &deadpool_postgres::Pool,
    ) -> Result<(std::sync::Arc<Parties>, std::sync::Arc<Places>), PartiesError> {
        let cached = self.current(pool).await?;
        Ok((cached.parties, cached.places))
    }

    async fn current(&self, pool: &deadpool_postgres::Pool) -> Result<Cached, PartiesError> {
        if let Some(cached) = self.cached()
            && cached.checked.elapsed() < self.recheck
        {
            return Ok(cached);
        }
        let client = pool.get().await?;
        Ok(self.refresh(&**client).await?)
    }

    /// Looks at the registry's generation, and reads the parties and places again when it
    /// changed.
    async fn refresh<C: GenericClient>(&self, client: &C) -> Result<Cached, ReadError> {
        let cached = self.cached();
        if let Some(mut cached) = cached
            && current_generation(client).await? == cached.generation
        {
            cached.checked = Instant::now();
            self.store(cached.clone());
            return Ok(cached);
        }
        let (generation, parties) = parties(client).await?;
        let places = places(client).await?;
        let cached = Cached {
            generation,
            parties: std::sync::Arc::new(parties),
            places: std::sync::Arc::new(places),
            checked: Instant::now(),
        };
        self.store(cached.clone());
        Ok(cached)
    }
}
