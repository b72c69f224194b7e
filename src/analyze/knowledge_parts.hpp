// Internal to the explain knowledge base: per-sysctl descriptions and per-topic builders.
#pragma once

#include "analyze/knowledge.hpp"

namespace sockdoctor::analyze::parts {

// knowledge_settings.cpp: one SettingInfo per sysctl, its meaning adapted to this kernel.
SettingInfo tw_reuse(const core::KernelSettings& k);
SettingInfo tw_reuse_delay_setting(const core::KernelSettings& k);
SettingInfo timestamps(const core::KernelSettings& k);
SettingInfo tw_recycle(const core::KernelSettings& k);
SettingInfo tw_timeout(const core::KernelSettings& k);
SettingInfo max_tw_buckets(const core::KernelSettings& k);
SettingInfo rfc1337(const core::KernelSettings& k);
SettingInfo fin_timeout(const core::KernelSettings& k);
SettingInfo keepalive_time(const core::KernelSettings& k);
SettingInfo keepalive_intvl(const core::KernelSettings& k);
SettingInfo keepalive_probes(const core::KernelSettings& k);
SettingInfo retries2(const core::KernelSettings& k);
SettingInfo orphan_retries(const core::KernelSettings& k);
SettingInfo rto_max_ms(const core::KernelSettings& k);
SettingInfo abort_on_overflow(const core::KernelSettings& k);
SettingInfo max_orphans(const core::KernelSettings& k);
SettingInfo somaxconn(const core::KernelSettings& k);
SettingInfo max_syn_backlog(const core::KernelSettings& k);
SettingInfo syncookies(const core::KernelSettings& k);
SettingInfo port_range(const core::KernelSettings& k);
SettingInfo reserved_ports(const core::KernelSettings& k);

// knowledge_topics.cpp / knowledge_topics_more.cpp: one builder per topic.
Topic close_wait_topic(const core::KernelSettings& k);
Topic time_wait_topic(const core::KernelSettings& k);
Topic fin_wait2_topic(const core::KernelSettings& k);
Topic keepalive_topic(const core::KernelSettings& k);
Topic ports_topic(const core::KernelSettings& k);
Topic orphans_topic(const core::KernelSettings& k);
Topic listen_queue_topic(const core::KernelSettings& k);
Topic kill_topic(const core::KernelSettings& k); // knowledge_kill.cpp

// The truth told against "enable tcp_tw_recycle": why it went, and its state on this kernel.
std::string tw_recycle_truth(const core::KernelSettings& k);

// Figure constructors shared by the builders.
Figure
seconds_figure(std::string id, std::string name, std::optional<double> seconds, std::string basis);
Figure rate_figure(std::string id, std::string name, double per_second, std::string basis);
Figure count_figure(std::string id,
                    std::string name,
                    std::optional<double> count,
                    std::string unit,
                    std::string basis);

} // namespace sockdoctor::analyze::parts
