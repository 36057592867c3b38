//! `GET /openapi.json`, generated from the handlers' types with utoipa (to be written).
