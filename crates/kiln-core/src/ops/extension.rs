//! The backend extension: [`ConvBackend`] adds a convolution (`flex`: Kiln's forward kernel)
//! whose autodiff backward takes its weight gradient from
//! [`ConvBackend::kiln_conv2d_weight_grad`], which `flex` overrides with Kiln's kernel and every
//! other backend answers with Burn's own; the input gradient is Burn's.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, backend_extension};
use burn::tensor::ops::ConvOptions;

/// A 2-D convolution (no bias) with a replaceable weight gradient.
///
/// Implemented for `flex` (Kiln's weight-gradient kernel), `ndarray` (Burn's), and `Autodiff`
/// over either (the backward pass that calls the weight-gradient op).
#[backend_extension(Autodiff, Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"))]
pub trait ConvBackend: Backend {
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
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl ConvBackend for burn::backend::NdArray {}

#[cfg(feature = "flex")]
impl ConvBackend for burn::backend::Flex {
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
}

impl<B: ConvBackend, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn kiln_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct KilnConv2dBackward;

        impl<B: ConvBackend> Backward<B, 2> for KilnConv2dBackward {
            type State = (NodeId, NodeId, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, options) = ops.state;
                let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
                let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
                if let Some(node) = node_x {
                    let dx = B::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
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
}
