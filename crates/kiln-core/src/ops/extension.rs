//! The backend extension: [`KilnBackend`] adds Kiln's ops — a convolution whose autodiff backward
//! takes its weight gradient from [`KilnBackend::kiln_conv2d_weight_grad`] and its input
//! gradient from [`KilnBackend::kiln_conv2d_input_grad`] (Kiln's for depthwise, 3×3 stride-1
//! and widening stride-1 layers, Burn's otherwise), training-mode batch norm and max pooling, each with its own autodiff backward.
//! `flex` overrides them with Kiln's kernels; every other backend answers with Burn's own ops.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, backend_extension};
use burn::tensor::ops::ConvOptions;

/// Kiln's replaceable ops: a 2-D convolution (no bias) and its weight gradient, training-mode
/// batch norm and its backward, max pooling and its backward.
///
/// Implemented for `flex` (Kiln's kernels), `ndarray` (Burn's ops), and `Autodiff` over either
/// (the backward passes that call the gradient ops).
#[backend_extension(Autodiff, Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"))]
pub trait KilnBackend: Backend {
    /// The convolution: Burn's forward.
    ///
    /// # Shapes
    /// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]` → `[n, c_out, h', w']`
    fn kiln_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The gradient of the loss with respect to `weight`, given the output gradient.
    ///
    /// # Shapes
    /// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]`, `output_grad`:
    /// `[n, c_out, h', w']` → `[c_out, c_in / groups, kh, kw]`
    fn kiln_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }

    /// The gradient of the loss with respect to `x`, given the output gradient.
    ///
    /// # Shapes
    /// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]`, `output_grad`:
    /// `[n, c_out, h', w']` → `[n, c_in, h, w]`
    fn kiln_conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    /// SiLU, `x · sigmoid(x)`.
    ///
    /// # Shapes
    /// any → the same
    fn kiln_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(x.clone(), Self::sigmoid(x))
    }

    /// `grad · d silu(x) / dx` = `grad · s · (1 + x · (1 - s))` with `s = sigmoid(x)`.
    ///
    /// # Shapes
    /// `x`, `grad` of one shape → the same
    fn kiln_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let s = Self::sigmoid(x.clone());
        let one_minus_s = Self::float_add_scalar(Self::float_neg(s.clone()), 1f32.into());
        let inner = Self::float_add_scalar(Self::float_mul(x, one_minus_s), 1f32.into());
        Self::float_mul(grad, Self::float_mul(s, inner))
    }

    /// Batch normalisation with the batch's own statistics: `(output, mean, biased variance)`,
    /// as Burn's `batch_norm_train`.
    ///
    /// # Shapes
    /// `x`: `[n, c, ...]`, `gamma`, `beta`: `[c]` → (`[n, c, ...]`, `[c]`, `[c]`)
    fn kiln_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        burn_batch_norm_train::<Self>(x, gamma, beta, epsilon)
    }

    /// The gradients of [`kiln_batch_norm_train`](Self::kiln_batch_norm_train) with respect to
    /// `x`, `gamma` and `beta`, given the output gradient and the statistics it returned.
    ///
    /// # Shapes
    /// `x`, `output_grad`: `[n, c, ...]`; `gamma`, `mean`, `variance`: `[c]` → (`[n, c, ...]`,
    /// `[c]`, `[c]`)
    fn kiln_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        burn_batch_norm_backward::<Self>(x, gamma, mean, variance, epsilon, output_grad)
    }

    /// 2-D max pooling (no dilation, floor mode, `padding` on both sides).
    ///
    /// # Shapes
    /// `[n, c, h, w]` → `[n, c, h', w']`
    fn kiln_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::max_pool2d(x, kernel, stride, padding, [1, 1], false)
    }

    /// The input gradient of [`kiln_max_pool2d`](Self::kiln_max_pool2d).
    ///
    /// # Shapes
    /// `x`: `[n, c, h, w]`, `output_grad`: `[n, c, h', w']` → `[n, c, h, w]`
    fn kiln_max_pool2d_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        burn_max_pool2d_backward::<Self>(x, output_grad, kernel, stride, padding)
    }
}

/// Burn's `batch_norm_train`, as a tuple.
fn burn_batch_norm_train<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    (r.output, r.mean, r.variance)
}

/// Burn's `batch_norm_train_backward`, as a tuple.
fn burn_batch_norm_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
    output_grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let r = B::batch_norm_train_backward(x, gamma, mean, variance, epsilon, output_grad);
    (r.x_grad, r.gamma_grad, r.beta_grad)
}

/// Burn's max-pooling input gradient (through the indices its forward returns).
fn burn_max_pool2d_backward<B: Backend>(
    x: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> FloatTensor<B> {
    let r = B::max_pool2d_with_indices(
        x.clone(),
        kernel,
        stride,
        padding,
        [1, 1],
        false,
        burn::tensor::IntDType::I64,
    );
    B::max_pool2d_with_indices_backward(x, kernel, stride, padding, [1, 1], false, output_grad, r.indices).x_grad
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl KilnBackend for burn::backend::NdArray {}

#[cfg(feature = "flex")]
impl KilnBackend for burn::backend::Flex {
    fn kiln_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        use burn::backend::ops::ModuleOps;
        match super::flex_conv_forward::conv2d_f32(&x, &weight, &options) {
            Some(y) => y,
            None => Self::conv2d(x, weight, None, options),
        }
    }

    fn kiln_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        use burn::backend::TensorMetadata;
        use burn::backend::ops::ModuleOps;
        let shape = weight.shape();
        match super::flex_weight_grad::weight_grad_f32(
            &x,
            &output_grad,
            [shape[0], shape[1], shape[2], shape[3]],
            &options,
        ) {
            Some(grad) => grad,
            None => Self::conv2d_weight_backward(x, weight, output_grad, options),
        }
    }

    fn kiln_conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        use burn::backend::ops::ModuleOps;
        let kiln = super::flex_depthwise::input_grad_f32(&x, &weight, &output_grad, &options)
            .or_else(|| super::flex_winograd::input_grad_f32(&x, &weight, &output_grad, &options))
            .or_else(|| super::flex_input_grad::input_grad_f32(&x, &weight, &output_grad, &options));
        match kiln {
            Some(grad) => grad,
            None => Self::conv2d_x_backward(x, weight, output_grad, options),
        }
    }

    fn kiln_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::ops::{ActivationOps, FloatTensorOps};
        super::flex_silu::silu_f32(&x).unwrap_or_else(|| Self::float_mul(x.clone(), Self::sigmoid(x)))
    }

    fn kiln_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::ops::{ActivationOps, FloatTensorOps};
        super::flex_silu::silu_backward_f32(&x, &grad).unwrap_or_else(|| {
            let s = Self::sigmoid(x.clone());
            let one_minus_s = Self::float_add_scalar(Self::float_neg(s.clone()), 1f32.into());
            let inner = Self::float_add_scalar(Self::float_mul(x, one_minus_s), 1f32.into());
            Self::float_mul(grad, Self::float_mul(s, inner))
        })
    }

    fn kiln_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        use super::flex_batch_norm as bn;
        let fused = bn::mean(&x).and_then(|mean| {
            let var = bn::variance(&x, &mean)?;
            let y = bn::normalize(&x, &gamma, &beta, &mean, &var, epsilon)?;
            Some((y, mean, var))
        });
        fused.unwrap_or_else(|| burn_batch_norm_train::<Self>(x, gamma, beta, epsilon))
    }

    fn kiln_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        super::flex_batch_norm::backward(&x, &gamma, &mean, &variance, &output_grad, epsilon)
            .unwrap_or_else(|| burn_batch_norm_backward::<Self>(x, gamma, mean, variance, epsilon, output_grad))
    }

    fn kiln_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        use burn::backend::ops::ModuleOps;
        match super::flex_max_pool::forward_f32(&x, kernel, stride, padding) {
            Some(y) => y,
            None => Self::max_pool2d(x, kernel, stride, padding, [1, 1], false),
        }
    }

    fn kiln_max_pool2d_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        super::flex_max_pool::backward_f32(&x, &output_grad, kernel, stride, padding)
            .unwrap_or_else(|| burn_max_pool2d_backward::<Self>(x, output_grad, kernel, stride, padding))
    }
}

impl<B: KilnBackend, C: CheckpointStrategy> KilnBackend for Autodiff<B, C> {
    fn kiln_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct KilnConv2dBackward;

        impl<B: KilnBackend> Backward<B, 2> for KilnConv2dBackward {
            type State = (NodeId, NodeId, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, options) = ops.state;
                let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
                let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
                if let Some(node) = node_x {
                    let dx = B::kiln_conv2d_input_grad(x.clone(), weight.clone(), grad.clone(), options.clone());
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_weight {
                    let dw = B::kiln_conv2d_weight_grad(x, weight, grad, options);
                    grads.register::<B>(node.id, dw);
                }
            }
        }

        match KilnConv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = B::kiln_conv2d(x.into_primitive(), weight.into_primitive(), options.clone());
                prep.finish((x_state, weight_state, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::kiln_conv2d(x.into_primitive(), weight.into_primitive(), options))
            }
        }
    }

    fn kiln_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct KilnSiluBackward;

        impl<B: KilnBackend> Backward<B, 1> for KilnSiluBackward {
            type State = NodeId;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::kiln_silu_backward(x, grad));
                }
            }
        }

        match KilnSiluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let y = B::kiln_silu(x.into_primitive());
                prep.finish(x_state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::kiln_silu(x.into_primitive())),
        }
    }

    fn kiln_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        use burn::backend::AutodiffBackend;
        let wrap = <Self as AutodiffBackend>::from_inner;

        #[derive(Debug)]
        struct KilnBatchNormBackward;

        impl<B: KilnBackend> Backward<B, 3> for KilnBatchNormBackward {
            // The input and gamma are checkpointed; the statistics come as the forward made them.
            type State = (NodeId, NodeId, FloatTensor<B>, FloatTensor<B>, f64);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, gamma_state, mean, variance, epsilon) = ops.state;
                let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
                let gamma: FloatTensor<B> = checkpointer.retrieve_node_output(gamma_state);
                let (dx, dgamma, dbeta) = B::kiln_batch_norm_backward(x, gamma, mean, variance, epsilon, grad);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_gamma {
                    grads.register::<B>(node.id, dgamma);
                }
                if let Some(node) = node_beta {
                    grads.register::<B>(node.id, dbeta);
                }
            }
        }

        match KilnBatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let (y, mean, variance) = B::kiln_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                let y = prep.finish((x_state, gamma_state, mean.clone(), variance.clone(), epsilon), y);
                (y, wrap(mean), wrap(variance))
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, variance) = B::kiln_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (prep.finish(y), wrap(mean), wrap(variance))
            }
        }
    }

    fn kiln_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct KilnMaxPoolBackward;

        impl<B: KilnBackend> Backward<B, 1> for KilnMaxPoolBackward {
            type State = (NodeId, [usize; 2], [usize; 2], [usize; 2]);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, kernel, stride, padding) = ops.state;
                let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::kiln_max_pool2d_backward(x, grad, kernel, stride, padding));
                }
            }
        }

        match KilnMaxPoolBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let y = B::kiln_max_pool2d(x.into_primitive(), kernel, stride, padding);
                prep.finish((x_state, kernel, stride, padding), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::kiln_max_pool2d(x.into_primitive(), kernel, stride, padding)),
        }
    }
}
