//! The OpenAPI 3.1 document, built from the same schemas the registry validates with.

use serde_json::{Map, Value, json};
use tinct_command::{CommandResult, ErrorCode, Registry, schema_of};

/// Every command as `POST /v1/commands/{name}`, plus the resource routes.
pub fn document(registry: &Registry) -> Value {
    let mut schemas = Map::new();
    let envelope_schema = hoist(schema_of::<CommandResult>(), &mut schemas);
    schemas.insert("CommandResult".to_owned(), envelope_schema);
    let mut paths = Map::new();
    for def in registry.list() {
        let input = hoist(def.input_schema.clone(), &mut schemas);
        let output = hoist(def.output_schema.clone(), &mut schemas);
        let envelope = json!({
            "allOf": [
                {"$ref": "#/components/schemas/CommandResult"},
                {"type": "object", "properties": {"data": output}}
            ]
        });
        let mut responses = Map::new();
        responses.insert(
            "200".to_owned(),
            json!({"description": "Success", "content": {"application/json": {"schema": envelope}}}),
        );
        responses.insert(
            "default".to_owned(),
            json!({"description": "An error from the catalogue (see x-error-codes)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandResult"}}}}),
        );
        let examples: Map<String, Value> = def
            .examples
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    format!("example{i}"),
                    json!({"summary": e.title, "value": e.input}),
                )
            })
            .collect();
        // Mutations also take their idempotency key as a header.
        let parameters = if def.mutation {
            json!([{"name": "Idempotency-Key", "in": "header", "required": false,
                    "schema": {"type": "string", "maxLength": 255},
                    "description": "Same as the idempotencyKey input field: a retry with the same key and input returns the first result."}])
        } else {
            json!([])
        };
        paths.insert(
            format!("/v1/commands/{}", def.name),
            json!({"post": {
                "operationId": def.name,
                "summary": def.description,
                "tags": def.tags,
                "x-mutation": def.mutation,
                "x-scopes": def.scopes,
                "parameters": parameters,
                "requestBody": {"required": true, "content": {"application/json": {"schema": input, "examples": examples}}},
                "responses": responses,
            }}),
        );
    }
    add_resource_routes(&mut paths, registry);
    let codes: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({"code": c.as_str(), "httpStatus": c.http_status(), "retryable": c.retryable(), "meaning": c.meaning()}))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tinct",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Design tokens as a service. Every command runs at POST /v1/commands/{name} and answers with a CommandResult envelope."
        },
        "paths": paths,
        "components": {"schemas": schemas},
        "x-error-codes": codes,
    })
}

/// Moves a schema's `$defs` into components and points its `$ref`s there.
fn hoist(mut schema: Value, components: &mut Map<String, Value>) -> Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        if let Some(Value::Object(defs)) = obj.remove("$defs") {
            for (name, mut def) in defs {
                retarget(&mut def);
                components.entry(name).or_insert(def);
            }
        }
    }
    retarget(&mut schema);
    schema
}

fn retarget(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(r) = v
                    && let Some(name) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("#/components/schemas/{name}");
                } else {
                    retarget(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(retarget),
        _ => {}
    }
}

fn add_resource_routes(paths: &mut Map<String, Value>, registry: &Registry) {
    let envelope = json!({"$ref": "#/components/schemas/CommandResult"});
    let ok = |description: &str, schema: &Value| json!({"200": {"description": description, "content": {"application/json": {"schema": schema}}}});
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    paths.insert("/v1/nodes".to_owned(), json!({"get": {
        "operationId": "nodes.list", "summary": "List nodes (node.list).",
        "parameters": [
            {"name": "parent", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}}
        ],
        "responses": ok("A page of nodes", &envelope)}}));
    paths.insert(
        "/v1/nodes/{id}".to_owned(),
        json!({"get": {
        "operationId": "nodes.get", "summary": "One node (node.get).",
        "parameters": [id], "responses": ok("The node", &envelope)}}),
    );
    paths.insert(
        "/v1/nodes/{id}/tokens".to_owned(),
        json!({"get": {
        "operationId": "nodes.tokens", "summary": "Resolved tokens of a node (tokens.resolve).",
        "parameters": [id, {"name": "prefix", "in": "query", "schema": {"type": "string"}}],
        "responses": ok("Resolved tokens", &envelope)}}),
    );
    // The export route takes tokens.export's options as query parameters, so list them from
    // its own schema: the two cannot drift.
    let mut parameters = vec![
        id,
        json!({"name": "format", "in": "path", "required": true, "schema": {"type": "string"},
               "description": "a format or file extension: css, scss, less, js, ts, json, json-flat, dtcg, swift, xml (android), kt (compose), resolver.json"}),
    ];
    let export_input = registry
        .get("tokens.export")
        .map(|d| d.input_schema.clone());
    let options = export_input
        .as_ref()
        .and_then(|s| s["properties"].as_object())
        .into_iter()
        .flatten()
        .filter(|(name, _)| !matches!(name.as_str(), "node" | "format"));
    for (name, schema) in options {
        let description = schema["description"].clone();
        parameters.push(
            json!({"name": name, "in": "query", "description": description,
                               "schema": {"type": schema["type"].clone()}}),
        );
    }
    paths.insert("/v1/nodes/{id}/export.{format}".to_owned(), json!({"get": {
        "operationId": "nodes.export",
        "summary": "The node's tokens as a file (tokens.export), with ETag and Cache-Control; 304 on If-None-Match.",
        "parameters": parameters,
        "responses": {"200": {"description": "The file", "content": {"text/plain": {"schema": {"type": "string"}}}}, "304": {"description": "Not modified"}}}}));
}
