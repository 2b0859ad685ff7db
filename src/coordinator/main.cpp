// raythenad: the coordinator. Parse the invocation, dispatch, exit.
#include <iostream>
#include <string_view>

#include "common/log.hpp"
#include "config/command_line.hpp"
#include "config/keys.hpp"
#include "config/logging_setup.hpp"
#include "config/validate.hpp"
#include "coordinator/daemon.hpp"
#include "tools/status_client.hpp"
#include "tools/task_report.hpp"
#include "rty/version.hpp"

int main(int argc, char** argv) {
  using rty::config::invocation;
  // `raythenad status ...` asks a running coordinator (found through <workdir>/status.url).
  if (argc > 1 && std::string_view(argv[1]) == "status")
    return rty::tools::run_status_command(argc - 1, argv + 1, std::cout, std::cerr);
  // `raythenad report DIR` summarises a task directory (finished, running or interrupted).
  if (argc > 1 && std::string_view(argv[1]) == "report")
    return rty::tools::run_report_command(argc - 1, argv + 1, std::cout, std::cerr);
  const auto env = rty::config::current_environment();
  auto inv = rty::config::parse_invocation(argc, argv, env);
  if (!inv) {
    std::cerr << inv.error() << "\n";
    if (rty::config::wants_validation_json(argc, argv, env)) rty::config::report_load_failure_json(inv.error().message(), std::cout);
    return 2;
  }
  switch (inv->what) {
    case invocation::action::help:
      std::cout << (inv->help_man    ? rty::config::man_page(rty::version, rty::tools::status_command_help() + "\n" +
                                                                  rty::tools::report_command_help())
                    : inv->help_keys ? rty::config::keys_markdown(false)
                                     : rty::config::help_text());
      return 0;
    case invocation::action::version:
      std::cout << "raythenad " << rty::version << "\n";
      return 0;
    case invocation::action::validate:
      return rty::config::run_validation(*inv, std::cout);
    case invocation::action::run:
      if (auto err = rty::config::apply_logging(inv->config)) {
        std::cerr << "raythenad: " << *err << "\n";
        return 2;
      }
      for (const auto& n : inv->notices) {
        std::cerr << "raythenad: " << n << "\n";
        // Also in the run's log when that is a file: unknown keys and variables are found there later.
        if (inv->config.logging.driverlogfile) RTY_LOG(warning, "Config") << n;
      }
      return rty::coordinator::run_daemon(inv->config);
  }
  return 3;
}
