// `sockdoctor trace --json`: NDJSON, one object per transition and one summary object at exit.
#pragma once

#include <string>

#include "core/traced_socket.hpp"
#include "render/trace_text.hpp"

namespace sockdoctor::render {

// {"type":"transition","time":ISO,"time_boot_ns":N,"time_from_timer":false,"cookie":"N","netns":N,"family":"ipv4",
//  "local":{"addr","port"},"peer":{...},"old_state":"established","new_state":"fin_wait1",
//  "kind":"state","in_old_state_s":1.204|null,"in_old_state_basis":"traced"|"timer"|null,
//  "tracked":true,"born_traced":true,
//  "owner":{"pid","uid","cgroup_id","comm","role"}|null}  + '\n'
std::string format_trace_json_event(const core::SocketTransition& t,
                                    const core::RegisterInfo& info);

// {"type":"summary","seconds","received","shown","pairs":[{"from","to","kind","count",
//  "timed","p50_s","p90_s","p99_s","max_s"}],"register":{"capacity","entries","evicted","reclaimed",
//  "insert_failures","ring_drops","malformed","time_wait_traced",...counters,
//  "skipped_runs"}}  + '\n'
std::string format_trace_json_summary(const TraceSummaryView& v);

} // namespace sockdoctor::render
