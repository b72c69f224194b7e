// From the global options to a collect::Sampler; the stderr notes of what a sample missed, and
// the one way cli writes an error line.
#include <malloc.h>
#include <unistd.h>

#include <ostream>

#include "cli/context.hpp"
#include "render/escape.hpp"
#include "render/notes.hpp"

namespace sockdoctor::cli {

void error_line(const Context& ctx, std::string_view cmd, std::string_view message) {
  const std::string prefix =
      cmd.empty() ? std::string("sockdoctor: ") : "sockdoctor " + std::string(cmd) + ": ";
  render::write_notice(*ctx.err, prefix, message);
}

int exit_status_of(const core::Error& e) {
  if (e.code == core::ErrorCode::PermissionDenied) return kExitNoPerm;
  if (e.code == core::ErrorCode::Usage) return kExitUsage;
  return kExitUnknown;
}

collect::SamplerOptions sampler_options(const GlobalOptions& g) {
  collect::SamplerOptions o;
  o.root = g.root;
  o.replay_file = g.replay_file;
  o.record_file = g.record_file;
  o.source = g.source == "proc"      ? collect::SocketSource::Proc
             : g.source == "netlink" ? collect::SocketSource::Netlink
             : g.source == "bpf"     ? collect::SocketSource::Bpf
                                     : collect::SocketSource::Auto;
  o.owner_backend = g.owner_scan == "bpf"    ? collect::OwnerBackend::Bpf
                    : g.owner_scan == "proc" ? collect::OwnerBackend::Proc
                                             : collect::OwnerBackend::Auto;
  o.scope = g.all_netns ? collect::NetnsScope::All : collect::NetnsScope::Own;
  o.register_pin_root = g.register_pin_root == "off" ? "" : g.register_pin_root;
  return o;
}

std::vector<std::string>
sample_notes(const Context& ctx, const core::Sample& sample, bool quiet_owners) {
  return render::sample_note_lines(sample, ctx.global.verbose, quiet_owners, ::geteuid() == 0);
}

void print_sample_notes(const Context& ctx, const core::Sample& sample, bool quiet_owners) {
  for (const auto& line : sample_notes(ctx, sample, quiet_owners))
    *ctx.err << line << "\n";
}

core::Result<core::Sample>
take_sample(const Context& ctx, const collect::SampleRequest& req, bool quiet_owners) {
  // One sample, then exit: return every large buffer to the kernel when it is freed. glibc raises
  // its mmap threshold to the size of the first large block freed (libbpf's parsed kernel BTF),
  // after which the owner scan's multi-megabyte vectors come from the heap and their freed copies
  // stay resident: 22 MB of peak RSS at 1M sockets (docs/performance.md, run F). Setting it at
  // all turns the adjustment off. top and serve keep the default: they reuse their buffers.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  collect::Sampler sampler(sampler_options(ctx.global));
  auto sample = sampler.take(req);
  if (sample) print_sample_notes(ctx, *sample, quiet_owners);
  return sample;
}

} // namespace sockdoctor::cli
