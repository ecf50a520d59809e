//! Layer tracing for [`crate::summary`]: models run their layers through these functions, which
//! are plain forward calls unless a summary is being taken on this thread. Then each layer's
//! path, output shape, parameters, multiply-accumulates and receptive field are recorded from the
//! real module and the real tensors.
//!
//! Receptive field (the course's `K + (n-1)·S·(K-1)`, generalised): each layer with kernel `k`,
//! stride `s` and dilation `d` grows the field by `(d(k-1)) · jump` and multiplies the jump (the
//! distance in input pixels between neighbouring outputs) by `s`. Parallel branches
//! ([`Branches`]) start from the same state; their join takes the largest field.

use burn::{
    module::Module,
    nn::{
        BatchNorm, LayerNorm, Linear,
        conv::Conv2d,
        pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d},
    },
    tensor::Tensor,
};
use std::cell::RefCell;

/// One traced layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerRecord {
    /// Dotted path of the layer in the module (`layer1.0.conv1`).
    pub path: String,
    /// Layer type and geometry (`Conv2d 3x3/2`).
    pub kind: String,
    /// Output shape without the batch dimension.
    pub output: Vec<usize>,
    /// Trainable parameters of this layer.
    pub params: usize,
    /// Multiply-accumulates per image.
    pub macs: u64,
    /// Receptive field `[height, width]` in input pixels of one output position; `None` once
    /// every input pixel contributes (after global pooling or a fully connected layer).
    pub receptive_field: Option<[usize; 2]>,
}

#[derive(Clone, Copy, Debug)]
struct Field {
    rf: [usize; 2],
    jump: [usize; 2],
    global: bool,
}

const START: Field = Field {
    rf: [1, 1],
    jump: [1, 1],
    global: false,
};

struct Tracer {
    records: Vec<LayerRecord>,
    scope: Vec<String>,
    field: Field,
}

thread_local! {
    static TRACER: RefCell<Option<Tracer>> = const { RefCell::new(None) };
}

/// Runs `f` with tracing on and returns its result with the layers it ran.
pub fn collect<R>(f: impl FnOnce() -> R) -> (R, Vec<LayerRecord>) {
    TRACER.with(|t| {
        *t.borrow_mut() = Some(Tracer {
            records: Vec::new(),
            scope: Vec::new(),
            field: START,
        })
    });
    let out = f();
    let records = TRACER.with(|t| t.borrow_mut().take().map(|t| t.records).unwrap_or_default());
    (out, records)
}

fn with<R>(f: impl FnOnce(&mut Tracer) -> R) -> Option<R> {
    TRACER.with(|t| t.borrow_mut().as_mut().map(f))
}

/// Whether a summary is being taken on this thread.
pub fn active() -> bool {
    TRACER.with(|t| t.borrow().is_some())
}

/// Runs `f` with `name` appended to the path of the layers it traces.
pub fn scope<R>(name: &str, f: impl FnOnce() -> R) -> R {
    if with(|t| t.scope.push(name.to_string())).is_none() {
        return f();
    }
    let out = f();
    with(|t| t.scope.pop());
    out
}

/// Parallel branches reading the same input (Inception's towers, a residual shortcut).
pub struct Branches {
    start: Option<Field>,
    ends: Vec<Field>,
}

/// Opens a set of parallel branches from the current tensor.
pub fn branches() -> Branches {
    Branches {
        start: with(|t| t.field),
        ends: Vec::new(),
    }
}

impl Branches {
    /// Runs one branch from the common input.
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let Some(start) = self.start else {
            return f();
        };
        with(|t| t.field = start);
        let out = f();
        if let Some(end) = with(|t| t.field) {
            self.ends.push(end);
        }
        out
    }

    /// Joins the branches (concatenation or sum): the output sees the union of their fields.
    pub fn join(self) {
        if self.start.is_none() {
            return;
        }
        let joined = self.ends.iter().fold(None::<Field>, |acc, f| {
            Some(match acc {
                None => *f,
                Some(a) => Field {
                    rf: [a.rf[0].max(f.rf[0]), a.rf[1].max(f.rf[1])],
                    jump: [a.jump[0].max(f.jump[0]), a.jump[1].max(f.jump[1])],
                    global: a.global || f.global,
                },
            })
        });
        if let Some(joined) = joined {
            with(|t| t.field = joined);
        }
    }
}

fn push(
    name: &str,
    kind: String,
    output: &[usize],
    params: usize,
    macs: u64,
    geometry: Option<([usize; 2], [usize; 2], [usize; 2])>,
) {
    with(|t| {
        if let Some((kernel, stride, dilation)) = geometry {
            for i in 0..2 {
                let k_eff = dilation[i] * (kernel[i] - 1) + 1;
                t.field.rf[i] += (k_eff - 1) * t.field.jump[i];
                t.field.jump[i] *= stride[i];
            }
        }
        let path = t
            .scope
            .iter()
            .map(String::as_str)
            .chain([name])
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(".");
        t.records.push(LayerRecord {
            path,
            kind,
            output: output.to_vec(),
            params,
            macs,
            receptive_field: (!t.field.global).then_some(t.field.rf),
        });
    });
}

fn global(name: &str, kind: String, output: &[usize], params: usize, macs: u64) {
    with(|t| t.field.global = true);
    push(name, kind, output, params, macs, None);
}

/// `conv.forward(x)`, traced.
///
/// # Shapes
/// `[b, c_in, h, w]` → `[b, c_out, h', w']`
pub fn conv2d(name: &str, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let y = crate::ops::conv2d_module(conv, x);
    if active() {
        let [_, c_out, h, w] = y.dims();
        let [_, c_in_g, kh, kw] = conv.weight.dims();
        let macs = (c_out * h * w * c_in_g * kh * kw) as u64;
        let kind = format!(
            "Conv2d {kh}x{kw}{}",
            if conv.stride == [1, 1] {
                String::new()
            } else {
                format!("/{}", conv.stride[0].max(conv.stride[1]))
            }
        );
        push(
            name,
            kind,
            &[c_out, h, w],
            conv.num_params(),
            macs,
            Some((conv.kernel_size, conv.stride, conv.dilation)),
        );
    }
    y
}

/// `bn.forward(x)`, traced (no multiply-accumulates counted, like torchvision's GFLOPS).
pub fn batch_norm(name: &str, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let y = crate::ops::batch_norm(bn, x);
    if active() {
        push(
            name,
            "BatchNorm".into(),
            &y.dims()[1..],
            crate::count_params(bn),
            0,
            None,
        );
    }
    y
}

/// `pool.forward(x)`, traced.
pub fn max_pool2d(name: &str, pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let y = crate::ops::max_pool2d(pool, x);
    if active() {
        let k = pool.kernel_size;
        push(
            name,
            format!("MaxPool2d {}x{}/{}", k[0], k[1], pool.stride[0]),
            &y.dims()[1..],
            0,
            0,
            Some((k, pool.stride, pool.dilation)),
        );
    }
    y
}

/// `pool.forward(x)`, traced.
pub fn avg_pool2d(name: &str, pool: &AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    let y = pool.forward(x);
    if active() {
        let k = pool.kernel_size;
        push(
            name,
            format!("AvgPool2d {}x{}/{}", k[0], k[1], pool.stride[0]),
            &y.dims()[1..],
            0,
            0,
            Some((k, pool.stride, [1, 1])),
        );
    }
    y
}

/// A pooling function applied without a module (torchvision's `F.avg_pool2d` calls), traced.
pub fn pool_fn(
    name: &str,
    kind: &str,
    kernel: [usize; 2],
    stride: [usize; 2],
    f: impl FnOnce() -> Tensor<4>,
) -> Tensor<4> {
    let y = f();
    if active() {
        push(
            name,
            format!("{kind} {}x{}/{}", kernel[0], kernel[1], stride[0]),
            &y.dims()[1..],
            0,
            0,
            Some((kernel, stride, [1, 1])),
        );
    }
    y
}

/// `pool.forward(x)`, traced. Output sizes of 1×1 make the receptive field global; otherwise
/// each output cell pools about `input / output` cells.
pub fn adaptive_avg_pool2d(name: &str, pool: &AdaptiveAvgPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let y = pool.forward(x);
    if active() {
        let [oh, ow] = pool.output_size;
        let kind = format!("AdaptiveAvgPool2d {oh}x{ow}");
        if oh == 1 && ow == 1 {
            global(name, kind, &y.dims()[1..], 0, 0);
        } else {
            let kernel = [h.div_ceil(oh).max(1), w.div_ceil(ow).max(1)];
            let stride = [(h / oh).max(1), (w / ow).max(1)];
            push(name, kind, &y.dims()[1..], 0, 0, Some((kernel, stride, [1, 1])));
        }
    }
    y
}

/// `linear.forward(x)`, traced. Its output depends on every input pixel.
///
/// # Shapes
/// `[b, d_in]` → `[b, d_out]`
pub fn linear(name: &str, linear: &Linear, x: Tensor<2>) -> Tensor<2> {
    let y = linear.forward(x);
    if active() {
        let [d_in, d_out] = linear.weight.dims();
        global(
            name,
            format!("Linear {d_in}→{d_out}"),
            &[d_out],
            linear.num_params(),
            (d_in * d_out) as u64,
        );
    }
    y
}

/// `norm.forward(x)` (a LayerNorm over the last axis), traced. Like [`batch_norm`], no
/// multiply-accumulates are counted (torchvision's GFLOPS count none) and the receptive field is
/// unchanged. The recorded output is the shape the norm sees (channels-last for ConvNeXt's
/// `LayerNorm2d`).
///
/// # Shapes
/// `[b, ..., d]` → the same
pub fn layer_norm<const D: usize>(name: &str, norm: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    let y = norm.forward(x);
    if active() {
        push(
            name,
            "LayerNorm".into(),
            &y.dims()[1..],
            crate::count_params(norm),
            0,
            None,
        );
    }
    y
}

/// `linear.forward(x)` on the last axis of every position of `x` (ConvNeXt's per-pixel linear
/// layers on `[b, h, w, c]`, a 1×1 convolution), traced. Unlike [`linear`] it keeps the receptive
/// field: each output position depends on its own input position only. Multiply-accumulates:
/// `d_in · d_out` per position.
///
/// # Shapes
/// `[b, ..., d_in]` → `[b, ..., d_out]`
pub fn linear_nd<const D: usize>(name: &str, linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    let y = linear.forward(x);
    if active() {
        let [d_in, d_out] = linear.weight.dims();
        let dims = y.dims();
        let positions: usize = dims.iter().skip(1).take(D.saturating_sub(2)).product();
        push(
            name,
            format!("Linear {d_in}→{d_out}"),
            &dims[1..],
            linear.num_params(),
            (positions * d_in * d_out) as u64,
            None,
        );
    }
    y
}
