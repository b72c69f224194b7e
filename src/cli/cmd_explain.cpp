// `sockdoctor explain [TOPIC]`: this namespace's TCP settings, what they really do, myths fixed.
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "analyze/knowledge.hpp"
#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "collect/kernel_settings.hpp"
#include "render/explain_json.hpp"
#include "render/explain_text.hpp"

namespace sockdoctor::cli {
namespace {

struct ExplainOptions {
  std::string topic;
  bool json = false;
};

constexpr const char* kExplainFooter = R"(
Topics:
  close-wait    how long a CLOSE_WAIT can live here, and why keepalive is not the fix
  time-wait     TIME_WAIT length, tcp_tw_reuse, tcp_max_tw_buckets, tcp_tw_recycle
  fin-wait-2    tcp_fin_timeout and which FIN_WAIT2 sockets it applies to
  keepalive     what the keepalive sysctls do, and only with SO_KEEPALIVE
  ports         ephemeral port budget: new connections/s per destination
  orphans       closed-but-unfinished sockets, tcp_orphan_retries, ss -K
  listen-queue  accept queue, somaxconn, SYN cookies
  kill          what destroying a socket (sockdoctor kill, ss -K) does in each state here
  all           a compact overview of every topic (the default)

Values are read from /proc/sys of the network namespace sockdoctor runs in (a new namespace
starts from kernel defaults, not the host's values): use `nsenter -n -t PID sockdoctor explain`
for a container. Every fact carries its kernel source reference.)";

std::string valid_topics() {
  std::string out;
  for (const auto id : analyze::topic_ids())
    out += std::string(id) + ", ";
  return out + "all";
}

int run_explain(const ExplainOptions& opts, Context& ctx) {
  const std::string word = opts.topic.empty() ? "all" : opts.topic;
  const auto topic = analyze::normalize_topic(word);
  if (!topic) {
    error_line(ctx, "explain", "unknown topic '" + word + "'; valid topics: " + valid_topics());
    return kExitUsage;
  }
  std::vector<std::string> problems;
  auto settings = collect::read_kernel_settings(ctx.global.root, &problems);
  if (!settings) {
    error_line(ctx, "explain", settings.error().message);
    return kExitUnknown;
  }
  if (ctx.global.verbose > 0)
    for (const auto& p : problems)
      error_line(ctx, "explain", p);

  std::vector<analyze::Topic> topics;
  if (*topic == "all")
    topics = analyze::build_all_topics(*settings);
  else
    topics.push_back(*analyze::build_topic(*topic, *settings));

  if (opts.json) {
    render::render_explain_json(*ctx.out, *settings, topics);
  } else {
    const render::ExplainTextOptions text{ctx.color, 80};
    if (*topic == "all")
      render::render_explain_overview(*ctx.out, *settings, topics, text);
    else
      render::render_explain_topics(*ctx.out, *settings, topics, text);
  }
  ctx.out->flush();
  return kExitOk;
}

} // namespace

CommandRunner add_explain_command(CLI::App& app, Context&) {
  auto opts = std::make_shared<ExplainOptions>();
  auto* sub = app.add_subcommand(
      "explain",
      "Explain the kernel settings that govern stuck sockets, and the myths they correct");
  sub->add_option("topic", opts->topic,
                  "close-wait, time-wait, fin-wait-2, keepalive, ports, orphans, listen-queue, "
                  "or all (default)")
      ->check(not_empty("a topic"));
  sub->add_flag("--json", opts->json, "JSON output (schema_version 1)");
  sub->footer(kExplainFooter);
  return [opts](Context& ctx) { return run_explain(*opts, ctx); };
}

} // namespace sockdoctor::cli
