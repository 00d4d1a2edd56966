// The `q` filter language and the `by` sort list of catalog queries. Parsing is pure;
// thread-safe.
//
// q := or;  or := and ('|' and)*;  and := term ('&' term)*
// term := '(' q ')' | '@tag' '(' STRING ')' | FIELD ('==' | '!=' | '~') STRING
// FIELD: registry node organization url name author description tags status created
// modified heartbeat. '~' is a case-insensitive substring; on `tags`, '==' and '~'
// match any tag. STRING is double-quoted with \" and \\ escapes.
// A q that does not parse becomes a case-insensitive full-text search over
// organization, name, author, description and tags, and the answer says so.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh::registry {

// A parsed `q`: a tree of nodes that FlowIndex evaluates over its columns (tests keep a
// row-by-row reference evaluator in tests/support/reference_query.hpp).
class Filter {
 public:
  struct Node {
    enum class Kind { all, any, eq, ne, contains, tag } kind = Kind::all;
    std::vector<std::shared_ptr<const Node>> children;  // all / any
    std::string field;
    std::string value;        // as written
    std::string value_lower;  // for ~ and @tag
  };
  static Result<Filter> parse(std::string_view q);
  // Null for an empty q (everything matches).
  const Node* root() const { return root_.get(); }

 private:
  std::shared_ptr<const Node> root_;
};

// The fields q and by may name.
bool is_field(std::string_view field);

struct SortKey {
  std::string field;
  bool descending = false;
};
Result<std::vector<SortKey>> parse_sort(std::string_view by);

}  // namespace fedmesh::registry
