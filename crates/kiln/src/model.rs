//! [`Model`]: any registered architecture, as one Burn module.

use burn::{
    module::Module,
    tensor::{Device, Tensor},
};
use kiln_alexnet::AlexNet;
use kiln_convnext::ConvNext;
use kiln_core::{Backbone, FeatureInfo, ImageClassifier};
use kiln_densenet::DenseNet;
use kiln_efficientnet::EfficientNet;
use kiln_googlenet::GoogLeNet;
use kiln_inception::InceptionV3;
use kiln_lenet::LeNet5;
use kiln_mnasnet::MnasNet;
use kiln_mobilenet::{MobileNetV2, MobileNetV3};
use kiln_regnet::RegNet;
use kiln_resnet::{BasicBlock, Bottleneck, ResNet};
use kiln_shufflenet::ShuffleNetV2;
use kiln_squeezenet::SqueezeNet;
use kiln_vgg::Vgg;

/// Any model of the registry. Built by [`crate::build`]; trains, evaluates and predicts through
/// [`ImageClassifier`], and offers the [`Backbone`] feature contract.
#[derive(Module, Debug)]
pub enum Model {
    /// LeNet-5.
    LeNet5(LeNet5),
    /// AlexNet.
    AlexNet(AlexNet),
    /// VGG 11/13/16/19, with or without BatchNorm.
    Vgg(Vgg),
    /// Inception v3.
    InceptionV3(InceptionV3),
    /// ResNet-18/34.
    ResNetBasic(ResNet<BasicBlock>),
    /// ResNet-50/101/152.
    ResNetBottleneck(ResNet<Bottleneck>),
    /// MobileNet V2.
    MobileNetV2(MobileNetV2),
    /// MobileNet V3 small / large.
    MobileNetV3(MobileNetV3),
    /// EfficientNet B0–B7, V2 S/M/L.
    EfficientNet(EfficientNet),
    /// MNASNet 0.5 / 0.75 / 1.0 / 1.3.
    MnasNet(MnasNet),
    /// ShuffleNet V2 ×0.5 / ×1.0 / ×1.5 / ×2.0.
    ShuffleNetV2(ShuffleNetV2),
    /// SqueezeNet 1.0 / 1.1.
    SqueezeNet(SqueezeNet),
    /// DenseNet-121 / 161 / 169 / 201.
    DenseNet(DenseNet),
    /// GoogLeNet (Inception v1).
    GoogLeNet(GoogLeNet),
    /// ConvNeXt tiny / small / base / large.
    ConvNext(ConvNext),
    /// RegNet X and Y.
    RegNet(RegNet),
}

/// Calls `$body` with `$m` bound to the architecture inside a [`Model`].
macro_rules! each {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            Model::LeNet5($m) => $body,
            Model::AlexNet($m) => $body,
            Model::Vgg($m) => $body,
            Model::InceptionV3($m) => $body,
            Model::ResNetBasic($m) => $body,
            Model::ResNetBottleneck($m) => $body,
            Model::MobileNetV2($m) => $body,
            Model::MobileNetV3($m) => $body,
            Model::EfficientNet($m) => $body,
            Model::MnasNet($m) => $body,
            Model::ShuffleNetV2($m) => $body,
            Model::SqueezeNet($m) => $body,
            Model::DenseNet($m) => $body,
            Model::GoogLeNet($m) => $body,
            Model::ConvNext($m) => $body,
            Model::RegNet($m) => $body,
        }
    };
}

impl ImageClassifier for Model {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        each!(self, m => m.forward_logits(images))
    }

    fn forward_with_aux(&self, images: Tensor<4>) -> (Tensor<2>, Vec<(f32, Tensor<2>)>) {
        each!(self, m => m.forward_with_aux(images))
    }

    fn num_classes(&self) -> usize {
        each!(self, m => m.num_classes())
    }
}

impl Backbone for Model {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        each!(self, m => m.feature_info())
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        each!(self, m => m.forward_features(images))
    }

    fn pooled_feature_info(&self) -> Option<Vec<FeatureInfo>> {
        each!(self, m => m.pooled_feature_info())
    }

    fn forward_features_pooled(&self, images: Tensor<4>) -> Option<kiln_core::Encoded> {
        each!(self, m => m.forward_features_pooled(images))
    }

    fn reset_classifier(self, num_classes: usize, device: &Device) -> Self {
        match self {
            Model::LeNet5(m) => Model::LeNet5(m.reset_classifier(num_classes, device)),
            Model::AlexNet(m) => Model::AlexNet(m.reset_classifier(num_classes, device)),
            Model::Vgg(m) => Model::Vgg(m.reset_classifier(num_classes, device)),
            Model::InceptionV3(m) => Model::InceptionV3(m.reset_classifier(num_classes, device)),
            Model::ResNetBasic(m) => Model::ResNetBasic(m.reset_classifier(num_classes, device)),
            Model::ResNetBottleneck(m) => Model::ResNetBottleneck(m.reset_classifier(num_classes, device)),
            Model::MobileNetV2(m) => Model::MobileNetV2(m.reset_classifier(num_classes, device)),
            Model::MobileNetV3(m) => Model::MobileNetV3(m.reset_classifier(num_classes, device)),
            Model::EfficientNet(m) => Model::EfficientNet(m.reset_classifier(num_classes, device)),
            Model::MnasNet(m) => Model::MnasNet(m.reset_classifier(num_classes, device)),
            Model::ShuffleNetV2(m) => Model::ShuffleNetV2(m.reset_classifier(num_classes, device)),
            Model::SqueezeNet(m) => Model::SqueezeNet(m.reset_classifier(num_classes, device)),
            Model::DenseNet(m) => Model::DenseNet(m.reset_classifier(num_classes, device)),
            Model::GoogLeNet(m) => Model::GoogLeNet(m.reset_classifier(num_classes, device)),
            Model::ConvNext(m) => Model::ConvNext(m.reset_classifier(num_classes, device)),
            Model::RegNet(m) => Model::RegNet(m.reset_classifier(num_classes, device)),
        }
    }
}
