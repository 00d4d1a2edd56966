#include "data/delta.hpp"

#include <openssl/sha.h>

#include <set>

namespace fedmesh::data {

using json = nlohmann::json;

std::string_view to_string(DeltaKind k) {
  switch (k) {
    case DeltaKind::set: return "set";
    case DeltaKind::negate: return "negate";
    case DeltaKind::remove: return "delete";
  }
  return "?";
}

namespace {

void append_entity_pointer(std::string& out, const Delta& d, bool with_context) {
  out += R"({"local_context":"entity","target":{"collection":)";
  append_canonical_string(out, d.collection);
  out += R"(,"entity":)";
  append_canonical_string(out, d.entity);
  out += '}';
  if (with_context) {
    out += R"(,"target_context":)";
    append_canonical_string(out, d.property);
  }
  out += '}';
}

void append_pointers(std::string& out, const Delta& d) {
  out += '[';
  switch (d.kind) {
    case DeltaKind::set:
      append_entity_pointer(out, d, true);
      out += R"(,{"local_context":"value","target":)";
      append_canonical(out, d.value);
      out += "}";
      break;
    case DeltaKind::negate:
      append_entity_pointer(out, d, !d.property.empty());
      out += R"(,{"local_context":"negates","target":")";
      out += to_hex(d.negates);
      out += "\"}";
      break;
    case DeltaKind::remove:
      append_entity_pointer(out, d, false);
      out += R"(,{"local_context":"delete","target":true})";
      break;
  }
  out += ']';
}

Error bad(const std::string& what) {
  return make_error(ErrorCode::bad_json, "delta: " + what);
}

Result<std::int64_t> integer_field(const json& j, const char* name, std::int64_t min) {
  auto it = j.find(name);
  if (it == j.end()) return bad(std::string("missing field '") + name + "'");
  if (!it->is_number_integer()) return bad(std::string("field '") + name + "' must be an integer");
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxSafeInteger))
    return bad(std::string("field '") + name + "' is out of range");
  auto v = it->get<std::int64_t>();
  if (v < min || v > kMaxSafeInteger) return bad(std::string("field '") + name + "' is out of range");
  return v;
}

Result<std::string> name_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return bad(std::string("field '") + name + "' must be a string");
  return it->get<std::string>();
}

// Decodes the pointers into d's kind, entity, property, value and negates.
Status decode_pointers(const json& ptrs, Delta& d) {
  if (!ptrs.is_array() || ptrs.size() != 2) return bad("'pointers' must be a list of two pointers");
  const json& subject = ptrs[0];
  const json& object = ptrs[1];
  for (const json* p : {&subject, &object}) {
    if (!p->is_object()) return bad("a pointer must be an object");
    for (const auto& [k, v] : p->items())
      if (k != "local_context" && k != "target" && k != "target_context")
        return bad("a pointer has an unknown member '" + k.substr(0, 64) + "'");
    if (!p->contains("local_context") || !(*p)["local_context"].is_string() || !p->contains("target"))
      return bad("a pointer needs 'local_context' (a string) and 'target'");
  }
  if (subject["local_context"] != "entity") return bad("the first pointer must have local_context 'entity'");
  auto ref = value_from_json(subject["target"], "delta: the entity pointer's target");
  if (!ref) return std::move(ref).error();
  if (ref->index() != 4) return bad("the entity pointer's target must be a reference");
  auto& r = std::get<EntityRef>(*ref);
  if (r.collection != d.collection) return bad("the entity pointer names another collection than 'collection'");
  d.entity = r.id;
  bool has_context = subject.contains("target_context");
  if (has_context) {
    if (!subject["target_context"].is_string()) return bad("'target_context' must be a string");
    d.property = subject["target_context"].get<std::string>();
    if (!valid_property_name(d.property)) return bad("'" + d.property.substr(0, 64) + "' is not a property name");
  }
  if (object.contains("target_context")) return bad("only the entity pointer has a target_context");
  const std::string& role = object["local_context"].get_ref<const std::string&>();
  if (role == "value") {
    if (!has_context) return bad("a value needs the property as the entity pointer's target_context");
    auto v = value_from_json(object["target"], "delta: the value");
    if (!v) return std::move(v).error();
    d.kind = DeltaKind::set;
    d.value = std::move(*v);
  } else if (role == "negates") {
    if (!object["target"].is_string()) return bad("'negates' must target a delta id");
    auto id = id_from_hex(object["target"].get<std::string>());
    if (!id) return bad("'negates' must target a delta id (64 hex digits)");
    d.kind = DeltaKind::negate;
    d.negates = *id;
  } else if (role == "delete") {
    if (has_context || object["target"] != true) return bad("a delete is {local_context: 'delete', target: true}");
    d.kind = DeltaKind::remove;
  } else {
    return bad("unknown pointer role '" + role.substr(0, 64) + "' (value, negates or delete)");
  }
  return {};
}

}  // namespace

std::string canonical(const Delta& d) {
  std::string out;
  out.reserve(160 + d.entity.size() + d.property.size());
  out += R"({"collection":)";
  append_canonical_string(out, d.collection);
  out += R"(,"creator":)";
  append_canonical_string(out, d.creator);
  out += R"(,"pointers":)";
  append_pointers(out, d);
  out += R"(,"seq":)";
  out += std::to_string(d.seq);
  out += R"(,"time":)";
  out += std::to_string(d.time);
  out += R"(,"tx":)";
  out += std::to_string(d.tx);
  out += R"(,"tx_size":)";
  out += std::to_string(d.tx_size);
  out += '}';
  return out;
}

std::string seal(Delta& d) {
  auto c = canonical(d);
  SHA256(reinterpret_cast<const unsigned char*>(c.data()), c.size(), d.id.data());
  return c;
}

std::string to_hex(const DeltaId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < id.size(); ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 15];
  }
  return out;
}

Result<DeltaId> id_from_hex(std::string_view hex) {
  if (hex.size() != 64) return make_error(ErrorCode::bad_json, "a delta id is 64 hex digits");
  DeltaId id{};
  for (std::size_t i = 0; i < 64; ++i) {
    char c = hex[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return make_error(ErrorCode::bad_json, "a delta id is 64 lowercase hex digits");
    }
    id[i / 2] = static_cast<unsigned char>(i % 2 == 0 ? v << 4 : id[i / 2] | v);
  }
  return id;
}

std::string wire_text(const Delta& d, std::string_view canonical_form) {
  std::string out;
  out.reserve(canonical_form.size() + 72);
  out += R"({"id":")";
  out += to_hex(d.id);
  out += "\",";
  out.append(canonical_form.substr(1));
  return out;
}

json to_json(const Delta& d) {
  return json::parse(wire_text(d, canonical(d)));
}

Result<Delta> delta_from_json(const json& j) {
  if (!j.is_object()) return bad("a delta must be an object");
  static const std::set<std::string, std::less<>> kFields = {"id", "creator", "collection", "seq",  "time",
                                                             "tx", "tx_size", "pointers",   "proof"};
  for (const auto& [k, v] : j.items())
    if (!kFields.contains(k)) return bad("unknown member '" + k.substr(0, 64) + "'");
  Delta d;
  auto creator = name_field(j, "creator");
  if (!creator) return std::move(creator).error();
  if (creator->empty() || creator->size() > kMaxNameBytes || !valid_entity_id(*creator))
    return bad("'creator' is not a node name");
  d.creator = std::move(*creator);
  auto collection = name_field(j, "collection");
  if (!collection) return std::move(collection).error();
  if (!valid_collection_name(*collection)) return bad("'" + collection->substr(0, 64) + "' is not a collection name");
  d.collection = std::move(*collection);
  auto seq = integer_field(j, "seq", 1);
  auto time = integer_field(j, "time", 0);
  auto tx = integer_field(j, "tx", 1);
  auto tx_size = integer_field(j, "tx_size", 1);
  for (auto* r : {&seq, &time, &tx, &tx_size})
    if (!*r) return std::move(*r).error();
  d.seq = *seq;
  d.time = *time;
  d.tx = *tx;
  d.tx_size = *tx_size;
  if (d.tx_size > kMaxTransaction) return bad("'tx_size' is above " + std::to_string(kMaxTransaction));
  if (d.tx > d.seq || d.seq >= d.tx + d.tx_size) return bad("'seq' lies outside its transaction [tx, tx + tx_size)");
  auto ptrs = j.find("pointers");
  if (ptrs == j.end()) return bad("missing field 'pointers'");
  if (auto s = decode_pointers(*ptrs, d); !s) return std::move(s).error();
  auto id = j.find("id");
  if (id == j.end() || !id->is_string()) return bad("missing field 'id'");
  auto claimed = id_from_hex(id->get<std::string>());
  if (!claimed) return bad("'id' is not 64 lowercase hex digits");
  (void)seal(d);
  if (d.id != *claimed) return bad("'id' is not the SHA-256 of the delta's canonical form");
  return d;
}

}  // namespace fedmesh::data
