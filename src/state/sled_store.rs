//! Persistent state in an embedded sled database.
#![allow(unused)]
use super::*;

/// Persistent store at one directory (one stack and workspace).
pub struct SledState {}
impl SledState {
    pub fn open(dir: &Path, stack: &str, workspace: &str) -> StateResult<SledState> {
        todo!()
    }
    pub fn stack_name(dir: &Path) -> StateResult<String> {
        todo!()
    }
    pub fn move_resource(&self, from: &str, to: &str) -> StateResult<u64> {
        todo!()
    }
}
impl StateRead for SledState {
    fn meta(&self) -> StateResult<StateMeta> {
        todo!()
    }
    fn resources(&self) -> StateResult<BTreeMap<String, ResourceState>> {
        todo!()
    }
    fn resource(&self, address: &str) -> StateResult<Option<ResourceState>> {
        todo!()
    }
    fn outputs(&self) -> StateResult<BTreeMap<String, OutputState>> {
        todo!()
    }
}
impl StateWrite for SledState {
    fn put_resource(&self, resource: &ResourceState) -> StateResult<u64> {
        todo!()
    }
    fn remove_resource(&self, address: &str) -> StateResult<u64> {
        todo!()
    }
    fn set_outputs(&self, outputs: &BTreeMap<String, OutputState>) -> StateResult<u64> {
        todo!()
    }
}
impl StateHistory for SledState {
    fn record(&self, command: &str, keep: usize) -> StateResult<()> {
        todo!()
    }
    fn history(&self) -> StateResult<Vec<HistoryEntry>> {
        todo!()
    }
}
