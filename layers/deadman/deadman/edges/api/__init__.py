"""The control API's edge: request models (`models`), routes (`routes`), the OpenAPI document
(`openapi`)."""
