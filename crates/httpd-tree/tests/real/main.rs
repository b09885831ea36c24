//! httpd-tree against real clients: curl, wget and headless Chromium, the built binary
//! on 127.0.0.1 with an ephemeral port. One test binary; modules by subject.

mod bmc_sim;
mod support;

mod big_file;
mod chromium;
mod cli;
mod console_chromium;
mod console_events;
mod console_scale;
mod curl_client;
mod deploy_agent;
mod hostile;
mod install_loop;
mod ipv6;
mod limits;
mod owner;
mod power;
mod redfish;
mod shared_database;
mod webdriver;
mod wget_client;
