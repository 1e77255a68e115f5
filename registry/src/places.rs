//! Where a site's locations are: coordinates set by an administrator (`tagtrail site place`) and
//! read by trace-api for its verdicts (`ledger::verdict`, the impossible-travel rule).

use std::collections::HashMap;

use ledger::verdict::Place;
use tokio_postgres::GenericClient;

use crate::admin::RegistryError;
use crate::location::{LocationKey, SiteLocation};
use crate::lookup::ReadError;

/// Why coordinates were refused.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("latitude {0} is not between -90 and 90 degrees")]
    Latitude(f64),
    #[error("longitude {0} is not between -180 and 180 degrees")]
    Longitude(f64),
}

/// A place from degrees, checked: latitude within ±90, longitude within ±180, both finite.
pub fn place(latitude: f64, longitude: f64) -> Result<Place, PlaceError> {
    if !(-90.0..=90.0).contains(&latitude) {
        return Err(PlaceError::Latitude(latitude));
    }
    if !(-180.0..=180.0).contains(&longitude) {
        return Err(PlaceError::Longitude(longitude));
    }
    Ok(Place {
        latitude,
        longitude,
    })
}

/// Sets (or, with `None`, clears) where a registered location is. A location no site speaks for
/// is refused: coordinates belong to a location of the registry.
pub async fn set_location_place<C: GenericClient>(
    client: &C,
    location: &SiteLocation,
    place: Option<Place>,
) -> Result<(), RegistryError> {
    let key = location.key().as_str();
    let registered = client
        .query_opt(
            "SELECT 1 FROM site_locations WHERE location_key = $1",
            &[&key],
        )
        .await?;
    if registered.is_none() {
        return Err(RegistryError::NoSuchLocation(location.as_str().to_owned()));
    }
    match place {
        Some(place) => {
            client
                .execute(
                    "INSERT INTO location_places (location_key, latitude, longitude)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (location_key) DO UPDATE
                     SET latitude = excluded.latitude, longitude = excluded.longitude,
                         set_at = now()",
                    &[&key, &place.latitude, &place.longitude],
                )
                .await?;
        }
        None => {
            client
                .execute(
                    "DELETE FROM location_places WHERE location_key = $1",
                    &[&key],
                )
                .await?;
        }
    }
    Ok(())
}

/// Every registered location's place, by location key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Places {
    by_key: HashMap<String, Place>,
}

impl Places {
    /// Where the location an event names is: its own key's place, else the place of the GLN
    /// pattern it falls under (`urn:epc:idpat:sgln:...*`, as locations are matched).
    pub fn of(&self, location: &str) -> Option<Place> {
        if self.by_key.is_empty() {
            return None;
        }
        // Its own key first: `candidates` gives the pattern first.
        LocationKey::candidates(location)
            .iter()
            .rev()
            .find_map(|key| self.by_key.get(key.as_str()).copied())
    }

    /// How many locations have a place.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no location has one.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Reads every location's place.
pub async fn places<C: GenericClient>(client: &C) -> Result<Places, ReadError> {
    let rows = client
        .query(
            "SELECT location_key, latitude, longitude FROM location_places",
            &[],
        )
        .await?;
    let mut by_key = HashMap::with_capacity(rows.len());
    for row in rows {
        let (latitude, longitude): (f64, f64) = (row.get(1), row.get(2));
        let place = place(latitude, longitude).map_err(|error| ReadError::Corrupt {
            what: "location place",
            reason: error.to_string(),
        })?;
        by_key.insert(row.get(0), place);
    }
    Ok(Places { by_key })
}
