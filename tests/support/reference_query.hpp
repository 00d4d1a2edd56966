// The row-by-row evaluator of the `q` filter language: slow, obvious, and the reference
// the flow index is checked against (registry_query_test's differential test).
#pragma once

#include "registry/filter.hpp"
#include "registry/flow.hpp"

namespace fedmesh::testing {

bool reference_matches(const registry::Filter& filter, const registry::FlowRecord& flow);

}  // namespace fedmesh::testing
