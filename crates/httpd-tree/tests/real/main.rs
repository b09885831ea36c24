//! httpd-tree against real clients: curl, wget and headless Chromium, the built binary
//! on 127.0.0.1 with an ephemeral port. One test binary; modules by subject.

mod bmc_sim;
mod support;

mod big_file;
mod chromium;
mod cli;
mod curl_client;
mod deploy_agent;
mod hostile;
mod install_loop;
mod limits;
mod owner;
mod shared_database;
mod power;
mod redfish;
mod wget_client;
