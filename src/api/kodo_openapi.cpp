#include "api/kodo_openapi.hpp"

#include <cctype>

#include "api/routes.hpp"
#include "core/version.hpp"

namespace fedmesh::api {

using json = nlohmann::json;

namespace {

// What kodo_routes.cpp serves, in the shapes docs/kodo-compat.md gives. A route added
// there belongs here too: Kodo.SchemaAnswersThePageAndTheDocumentOfEveryKodoRoute checks
// both ways against a running registry.
constexpr const char* kDocument = R"JSON({
  "openapi": "3.1.0",
  "info": {
    "title": "fedmesh registry: Kodo v1 routes",
    "description": "The plain-HTTP routes a fedmesh registry with registry.kodo_compat = true serves so Kodo v1 nodes and registries join it unchanged (docs/kodo-compat.md)."
  },
  "paths": {
    "/": {"get": {"summary": "The registry's status", "operationId": "status",
      "responses": {"200": {"description": "Kodo's default answer", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}}},
    "/register": {"post": {"summary": "A Kodo node registers its flows", "operationId": "register",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}},
      "responses": {
        "200": {"description": "The status, with 'registered node URL (first visit)' or '(seen previously CREATED)' and a 'feed forward node to URL' per fed Kodo registry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
        "400": {"description": "A field is missing or wrong; the message names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "409": {"description": "The URL is a fedmesh node's", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/connect": {"post": {"summary": "A Kodo registry connects and offers its nodes", "operationId": "connect",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProviderOffer"}}}},
      "responses": {
        "200": {"description": "With feed true, this registry's own offer and the messages; otherwise the status", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/ConnectAnswer"}, {"$ref": "#/components/schemas/Status"}]}}}},
        "400": {"description": "A field is missing or wrong, or the registry connects to itself", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/update/node": {"post": {"summary": "A connected Kodo registry sends changed nodes", "operationId": "update_node",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProviderOffer"}}}},
      "responses": {
        "200": {"description": "The status, with 'created node URL' or 'updated node URL' per change", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
        "400": {"description": "A field is missing or wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "The Kodo registry never connected: POST /connect first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/update/registry": {"post": {"summary": "A connected Kodo registry sends its record", "operationId": "update_registry",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Provider"}}}},
      "responses": {
        "200": {"description": "The status, with 'updated provider URL'", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
        "400": {"description": "A field is missing or wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "The Kodo registry never connected: POST /connect first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/map": {"get": {"summary": "Every node and every Kodo registry connected", "operationId": "map",
      "responses": {"200": {"description": "A ProviderDump", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProviderDump"}}}}}}},
    "/_cache": {"get": {"summary": "Kodo's cache file: the same dump, read from this registry's store", "operationId": "cache",
      "responses": {"200": {"description": "A ProviderDump", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProviderDump"}}}}}}},
    "/flows": {"get": {"summary": "The flows of every node, paged, filtered and sorted", "operationId": "flows",
      "parameters": [
        {"name": "q", "in": "query", "required": false, "schema": {"type": "string"}, "description": "field == \"x\", ~, &, | and parentheses; anything else is full-text search"},
        {"name": "by", "in": "query", "required": false, "schema": {"type": "string", "default": "name, node, url"}, "description": "comma-separated fields, each optionally :asc or :desc"},
        {"name": "p", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "default": 0}},
        {"name": "pp", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "default": 10}, "description": "at most registry.max_page_size"},
        {"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "html"]}}],
      "responses": {"200": {"description": "One page", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/FlowsPage"}},
        "text/html": {"schema": {"type": "string"}}}}}}},
    "/counts": {"get": {"summary": "Flows counted by node, organization and tag", "operationId": "counts",
      "responses": {"200": {"description": "The counts", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Counts"}}}}}}},
    "/schema": {"get": {"summary": "This document as a page", "operationId": "schema",
      "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    "/schema/openapi.json": {"get": {"summary": "This document", "operationId": "openapi_json",
      "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/vnd.oai.openapi+json": {"schema": {"type": "object"}}}}}}}
  },
  "components": {"schemas": {
    "Flow": {"type": "object", "required": ["name"], "properties": {
      "url": {"type": "string", "description": "the flow's path; the key it is listed under when absent"},
      "name": {"type": "string", "maxLength": 256},
      "description": {"type": ["string", "null"], "maxLength": 4096},
      "author": {"type": ["string", "null"], "maxLength": 256},
      "tags": {"type": ["array", "null"], "items": {"type": "string"}}}},
    "Node": {"type": "object", "required": ["url", "flows"], "properties": {
      "url": {"type": "string", "format": "uri", "description": "http(s) URL"},
      "organization": {"type": ["string", "null"], "maxLength": 256},
      "flows": {"oneOf": [
        {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Flow"}, "maxProperties": 1024, "description": "keyed by path"},
        {"type": "array", "items": {"$ref": "#/components/schemas/Flow"}, "maxItems": 1024}]},
      "created": {"type": ["string", "null"]},
      "modified": {"type": ["string", "null"]},
      "heartbeat": {"type": ["string", "null"]},
      "status": {"type": "string"}}},
    "ProviderOffer": {"type": "object", "required": ["url", "feed", "nodes"], "properties": {
      "url": {"type": "string", "format": "uri"},
      "organization": {"type": ["string", "null"]},
      "feed": {"type": "boolean", "description": "true: the registry asks to be sent later changes"},
      "nodes": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Node"}, "maxProperties": 10000, "description": "keyed by node URL"}}},
    "Provider": {"allOf": [{"$ref": "#/components/schemas/ProviderOffer"}, {"type": "object", "properties": {
      "created": {"type": ["string", "null"]},
      "modified": {"type": ["string", "null"]},
      "heartbeat": {"type": ["string", "null"]},
      "connect": {"type": "boolean"}}}]},
    "ProviderDump": {"type": "object", "properties": {
      "url": {"type": "string"},
      "organization": {"type": ["string", "null"]},
      "feed": {"type": "boolean"},
      "nodes": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Node"}},
      "providers": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Provider"}}}},
    "ConnectAnswer": {"type": "object", "properties": {
      "providers": {"$ref": "#/components/schemas/ProviderOffer"},
      "message": {"type": "array", "items": {"type": "string"}}}},
    "Status": {"type": "object", "properties": {
      "url": {"type": "string"},
      "organization": {"type": ["string", "null"]},
      "node": {"type": "boolean"},
      "registry": {"type": "boolean"},
      "provider": {"type": "boolean"},
      "connection": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Kodo registries this one connected to (registry.kodo_connect), with when"},
      "started_at": {"type": "string"},
      "idle": {"type": "boolean"},
      "now": {"type": "string"},
      "message": {"type": "array", "items": {"type": "string"}}}},
    "FlowItem": {"type": "object", "properties": {
      "registry": {"type": "string"}, "node": {"type": "string"}, "organization": {"type": ["string", "null"]},
      "created": {"type": ["string", "null"]}, "modified": {"type": ["string", "null"]}, "heartbeat": {"type": ["string", "null"]},
      "url": {"type": "string"}, "name": {"type": "string"}, "author": {"type": "string"}, "description": {"type": "string"},
      "tags": {"type": "array", "items": {"type": "string"}}}},
    "FlowsPage": {"type": "object", "properties": {
      "total": {"type": "integer"}, "filtered": {"type": "integer"}, "p": {"type": "integer"}, "pp": {"type": "integer"},
      "items": {"type": "array", "items": {"$ref": "#/components/schemas/FlowItem"}},
      "by": {"type": "string"}, "q": {"type": ["string", "null"]}}},
    "Counts": {"type": "object", "properties": {
      "total": {"type": "integer"},
      "node": {"type": "object", "additionalProperties": {"type": "integer"}},
      "organization": {"type": "object", "additionalProperties": {"type": "integer"}},
      "tags": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
      "code": {"type": "string"}, "message": {"type": "string"}}}}}
  }}
})JSON";

}  // namespace

const json& kodo_openapi() {
  static const json document = [] {
    auto d = json::parse(kDocument);
    d["info"]["version"] = kVersion;
    return d;
  }();
  return document;
}

std::string kodo_openapi_html(const json& document) {
  const auto& info = document["info"];
  std::string title = html_escape(info.value("title", "API"));
  std::string out = "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>" + title +
                    "</title>\n<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left;"
                    "vertical-align:top}code{font-size:1.05em}</style></head>\n<body>\n<h1>" +
                    title + "</h1>\n<p>" + html_escape(info.value("description", "")) + " Version " +
                    html_escape(info.value("version", "")) +
                    ". The OpenAPI document: <a href=\"/schema/openapi.json\">/schema/openapi.json</a>.</p>\n"
                    "<table>\n<tr><th>method</th><th>path</th><th>what</th><th>answers</th></tr>\n";
  for (const auto& [path, item] : document["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string statuses;
      for (const auto& [status, _] : op["responses"].items()) statuses += (statuses.empty() ? "" : ", ") + status;
      std::string upper = method;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out += "<tr><td>" + upper + "</td><td><code>" + html_escape(path) + "</code></td><td>" +
             html_escape(op.value("summary", "")) + "</td><td>" + statuses + "</td></tr>\n";
    }
  }
  out += "</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace fedmesh::api
