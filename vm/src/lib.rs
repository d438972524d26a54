//! placeholder until the VM lands in this commit series
