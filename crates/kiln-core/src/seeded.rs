//! Deterministic initialisation. Burn's parameters are initialised lazily, on first use, from a
//! random generator that is global to the backend (`Device::seed`): a model seeded and built here
//! but materialised later, during its first forward pass, draws from that generator whenever
//! it gets there, and any other model built or used meanwhile (another thread, another test)
//! changes what it draws. [`seed_for_init`] takes a lock that every seeded build in Kiln holds
//! while it seeds, builds and [`materialise`]s every parameter.

use burn::{
    module::{Module, ModuleVisitor, Param},
    tensor::{Device, Tensor},
};
use std::sync::{Mutex, MutexGuard};

static INIT: Mutex<()> = Mutex::new(());

struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Forces the lazy initialisation of every float parameter of `module`.
pub fn materialise<M: Module>(module: &M) {
    module.visit(&mut Materialise);
}

/// The initialisation lock: held from seeding (if any) to [`materialise`], so that no two
/// builds in Kiln draw from the device's generator at the same time.
pub struct InitGuard(#[allow(dead_code)] MutexGuard<'static, ()>);

/// Takes the initialisation lock without seeding (a build that wants fresh random weights but
/// must not disturb a seeded one running beside it).
pub fn init_guard() -> InitGuard {
    InitGuard(INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Takes the initialisation lock and seeds `device`'s generator with `seed`. Build the module,
/// [`materialise`] it, then drop the returned guard: the same seed then gives the same weights
/// whatever else the process does with Kiln's builders, unless other code draws from the device's
/// generator while the guard is held (milliseconds).
pub fn seed_for_init(device: &Device, seed: u64) -> InitGuard {
    let guard = init_guard();
    device.seed(seed);
    guard
}
