#![doc = include_str!("../README.md")]

pub mod access;
pub mod admin;
pub mod grants;
pub mod keys;
pub mod lookup;
pub mod nfc;
pub mod parties;
pub mod places;
pub mod recipients;
pub mod scans;
pub mod token;

/// Locations a site speaks for: kept in the ledger crate, where custody judges destinations by them.
pub use ledger::location;

pub use access::{
    Access, AccessRefused, AccessTokenInfo, Permission, Role, access_by_id, access_of,
    create_access_token, list_access_tokens, revoke_access_token,
};
pub use admin::{
    DeviceInfo, DeviceStatus, OrganisationInfo, RegistryError, SiteInfo, TokenInfo, add_delegate,
    add_device, add_organisation, add_organisation_prefixes, add_site, add_site_locations,
    create_token, list_devices, list_organisations, list_sites, list_tokens, rekey_device,
    remove_site_location, revoke_token, set_device_status, set_regulator,
};
pub use grants::{
    GrantInfo, GrantRequest, StoredGrant, access_of_grant, grant_by_id, issue_grant, list_grants,
    revoke_grant,
};
pub use keys::{device_keys, device_keys_in};
pub use location::{LocationError, LocationKey, SiteLocation};
pub use lookup::{
    AllowedCache, AllowedError, DeviceRecord, ReadError, RegistryGeneration, TokenRecord,
    allowed_locations, device_for_capture, token_for_capture, token_for_reader,
};
pub use parties::{PartiesCache, PartiesError, participants, parties};
pub use places::{PlaceError, Places, place, places, set_location_place};
pub use recipients::{
    PublishedKeys, RecipientKeyInfo, add_recipient_key, list_recipient_keys,
    published_recipient_keys, retire_recipient_key, retired_among,
};
pub use token::{SiteToken, TokenError, TokenId};
