//! Telegram families as data (TOML specs). See `specs/README.md` for the schema.
