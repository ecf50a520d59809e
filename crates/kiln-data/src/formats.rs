//! The standard annotation formats, so that users can bring their own dense data:
//!
//! - image + PNG mask folders (Pascal VOC `JPEGImages/` + `SegmentationClass/`, or any pair of
//!   folders whose files share a stem): masks are read as raw class indices, palette PNGs
//!   included (VOC's 255 "void" border stays 255);
//! - Pascal VOC XML boxes (`Annotations/*.xml`);
//! - COCO JSON (`images`, `categories`, `annotations[].bbox = [x, y, w, h]`).
//!
//! Every reader returns [`Sample`]s (image, mask, boxes in pixels) or a [`DataError`] naming the
//! file and what is wrong with it.

use super::{DataError, ImageItem};
use crate::augment::{BBox, Mask, Sample};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

/// Decodes an image file into planar RGB bytes.
pub fn read_rgb(path: &Path) -> Result<ImageItem, DataError> {
    let rgb = crate::image::decode(path)?.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut pixels = vec![0u8; 3 * w * h];
    for (i, p) in rgb.pixels().enumerate() {
        for c in 0..3 {
            pixels[c * w * h + i] = p.0[c];
        }
    }
    Ok(ImageItem {
        pixels,
        channels: 3,
        height: h,
        width: w,
        label: 0,
    })
}

/// Reads a PNG mask as class indices: palette PNGs give their palette indices (not colours),
/// grey PNGs their grey values.
pub fn read_mask_png(path: &Path) -> Result<Mask, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let bad = |reason: String| DataError::format(path, reason);
    let mut reader = decoder.read_info().map_err(|e| bad(format!("not a PNG mask: {e}")))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| bad("PNG too large".into()))?];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("corrupt PNG: {e}")))?;
    if info.bit_depth != png::BitDepth::Eight {
        return Err(bad(format!("masks must be 8-bit, got {:?}", info.bit_depth)));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let data = match info.color_type {
        png::ColorType::Indexed | png::ColorType::Grayscale => buf[..w * h].to_vec(),
        other => {
            return Err(bad(format!(
                "masks must be palette or grey PNGs holding class indices, got {other:?}"
            )));
        }
    };
    Ok(Mask {
        data,
        height: h,
        width: w,
    })
}

fn sorted_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| extensions.contains(&x.to_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Image + mask pairs from two folders, matched by file stem (`images/a.jpg` ↔ `masks/a.png`).
/// Images without a mask are skipped; a mask whose size differs from its image is an error.
pub fn read_mask_folder(images: &Path, masks: &Path) -> Result<Vec<Sample>, DataError> {
    let masks_by_stem: HashMap<String, PathBuf> = sorted_files(masks, &["png"])?
        .into_iter()
        .map(|p| (stem(&p), p))
        .collect();
    let mut samples = Vec::new();
    for path in sorted_files(images, &["jpg", "jpeg", "png"])? {
        let Some(mask_path) = masks_by_stem.get(&stem(&path)) else {
            continue;
        };
        let image = read_rgb(&path)?;
        let mask = read_mask_png(mask_path)?;
        if (mask.height, mask.width) != (image.height, image.width) {
            return Err(DataError::Mismatch(format!(
                "{} is {}×{} but its mask {} is {}×{}",
                path.display(),
                image.width,
                image.height,
                mask_path.display(),
                mask.width,
                mask.height
            )));
        }
        samples.push(Sample {
            image,
            mask: Some(mask),
            boxes: Vec::new(),
        });
    }
    if samples.is_empty() {
        return Err(DataError::NotFound {
            what: "image/mask pairs".into(),
            tried: vec![images.to_path_buf(), masks.to_path_buf()],
            hint: " (images .jpg/.png and masks .png with the same file stem)".into(),
        });
    }
    Ok(samples)
}

/// One Pascal VOC annotation file.
#[derive(Clone, Debug, PartialEq)]
pub struct VocAnnotation {
    /// The image file name (relative to `JPEGImages/`).
    pub filename: String,
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// `(class name, box)`; the box's label is its index in the class list given to the reader.
    pub objects: Vec<(String, BBox)>,
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name(name))
}

/// Reads a Pascal VOC XML file. Class names not in `classes` are an error naming them.
pub fn read_voc_xml(path: &Path, classes: &[String]) -> Result<VocAnnotation, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let bad = |reason: String| DataError::format(path, reason);
    let doc = roxmltree::Document::parse(&text).map_err(|e| bad(format!("not XML: {e}")))?;
    let root = doc.root_element();
    let text_of = |node: roxmltree::Node<'_, '_>, name: &str| -> Result<String, DataError> {
        child(node, name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .ok_or_else(|| bad(format!("<{}> lacks <{name}>", node.tag_name().name())))
    };
    let number = |node: roxmltree::Node<'_, '_>, name: &str| -> Result<f32, DataError> {
        let t = text_of(node, name)?;
        t.parse::<f32>()
            .map_err(|_| bad(format!("<{name}> is `{t}`, not a number")))
    };
    let size = child(root, "size").ok_or_else(|| bad("no <size>".into()))?;
    let (width, height) = (number(size, "width")? as usize, number(size, "height")? as usize);
    let mut objects = Vec::new();
    for object in root.children().filter(|c| c.has_tag_name("object")) {
        let name = text_of(object, "name")?;
        let label = classes.iter().position(|c| *c == name).ok_or_else(|| {
            bad(format!(
                "class `{name}` is not in the class list ({} classes)",
                classes.len()
            ))
        })?;
        let b = child(object, "bndbox").ok_or_else(|| bad(format!("object `{name}` has no <bndbox>")))?;
        let bbox = BBox {
            x0: number(b, "xmin")?,
            y0: number(b, "ymin")?,
            x1: number(b, "xmax")?,
            y1: number(b, "ymax")?,
            label,
        };
        if !(bbox.x1 > bbox.x0 && bbox.y1 > bbox.y0) {
            return Err(bad(format!("object `{name}` has an empty box {bbox:?}")));
        }
        objects.push((name, bbox));
    }
    Ok(VocAnnotation {
        filename: text_of(root, "filename")?,
        width,
        height,
        objects,
    })
}

/// A Pascal VOC detection folder (`Annotations/*.xml`, `JPEGImages/`): one sample per
/// annotation, with its boxes.
pub fn read_voc_detection(dir: &Path, classes: &[String]) -> Result<Vec<Sample>, DataError> {
    let mut samples = Vec::new();
    for xml in sorted_files(&dir.join("Annotations"), &["xml"])? {
        let ann = read_voc_xml(&xml, classes)?;
        let image = read_rgb(&dir.join("JPEGImages").join(&ann.filename))?;
        if (image.width, image.height) != (ann.width, ann.height) {
            return Err(DataError::Mismatch(format!(
                "{} says {}×{} but the image is {}×{}",
                xml.display(),
                ann.width,
                ann.height,
                image.width,
                image.height
            )));
        }
        samples.push(Sample {
            image,
            mask: None,
            boxes: ann.objects.into_iter().map(|(_, b)| b).collect(),
        });
    }
    Ok(samples)
}

/// Class names from a file, one per line (VOC's `class_names.txt`).
pub fn read_class_names(path: &Path) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    Ok(text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

#[derive(serde::Deserialize)]
struct CocoImage {
    id: u64,
    file_name: String,
    width: usize,
    height: usize,
}

#[derive(serde::Deserialize)]
struct CocoCategory {
    id: usize,
    name: String,
}

#[derive(serde::Deserialize)]
struct CocoAnnotation {
    image_id: u64,
    category_id: usize,
    bbox: [f32; 4],
}

#[derive(serde::Deserialize)]
struct CocoFile {
    images: Vec<CocoImage>,
    categories: Vec<CocoCategory>,
    annotations: Vec<CocoAnnotation>,
}

/// A COCO data set: class names indexed by category id, and per image its file and boxes.
#[derive(Clone, Debug, PartialEq)]
pub struct CocoSet {
    /// `classes[category_id]` (empty strings for unused ids).
    pub classes: Vec<String>,
    /// `(image path resolved against the JSON's folder, width, height, boxes)`; box labels are
    /// category ids.
    pub images: Vec<(PathBuf, usize, usize, Vec<BBox>)>,
}

/// Reads a COCO JSON file (boxes; segmentation polygons are not read). An annotation of an
/// unknown image or category is an error naming it.
pub fn read_coco(path: &Path) -> Result<CocoSet, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let file: CocoFile =
        serde_json::from_str(&text).map_err(|e| DataError::format(path, format!("not COCO JSON: {e}")))?;
    let max_id = file.categories.iter().map(|c| c.id).max().unwrap_or(0);
    let mut classes = vec![String::new(); max_id + 1];
    for c in &file.categories {
        classes[c.id] = c.name.clone();
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut images: Vec<(PathBuf, usize, usize, Vec<BBox>)> = Vec::new();
    for img in &file.images {
        index.insert(img.id, images.len());
        images.push((base.join(&img.file_name), img.width, img.height, Vec::new()));
    }
    for a in &file.annotations {
        let i = *index
            .get(&a.image_id)
            .ok_or_else(|| DataError::format(path, format!("annotation of unknown image id {}", a.image_id)))?;
        if classes.get(a.category_id).is_none_or(|c| c.is_empty()) {
            return Err(DataError::format(
                path,
                format!("annotation of unknown category id {}", a.category_id),
            ));
        }
        let [x, y, w, h] = a.bbox;
        images[i].3.push(BBox {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
            label: a.category_id,
        });
    }
    Ok(CocoSet { classes, images })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_xml_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.xml");
        let classes = vec!["_background_".to_string(), "dog".to_string()];
        std::fs::write(
            &p,
            "<annotation><filename>a.jpg</filename><size><width>10</width><height>8</height></size>\
             <object><name>dog</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>5</xmax><ymax>6</ymax></bndbox></object>\
             </annotation>",
        )
        .unwrap();
        let ann = read_voc_xml(&p, &classes).unwrap();
        assert_eq!((ann.width, ann.height, ann.objects.len()), (10, 8, 1));
        assert_eq!(
            ann.objects[0].1,
            BBox {
                x0: 1.0,
                y0: 2.0,
                x1: 5.0,
                y1: 6.0,
                label: 1
            }
        );
        let err = read_voc_xml(&p, &classes[..1]).unwrap_err().to_string();
        assert!(err.contains("class `dog`"), "{err}");
        std::fs::write(&p, "<annotation><size>").unwrap();
        assert!(read_voc_xml(&p, &classes).unwrap_err().to_string().contains("not XML"));
    }

    #[test]
    fn coco_boxes_and_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(
            &p,
            r#"{"images":[{"id":7,"file_name":"x.jpg","width":4,"height":3}],
                "categories":[{"id":2,"name":"cat"}],
                "annotations":[{"image_id":7,"category_id":2,"bbox":[1,1,2,1]}]}"#,
        )
        .unwrap();
        let set = read_coco(&p).unwrap();
        assert_eq!(set.classes[2], "cat");
        assert_eq!(
            set.images[0].3[0],
            BBox {
                x0: 1.0,
                y0: 1.0,
                x1: 3.0,
                y1: 2.0,
                label: 2
            }
        );
        std::fs::write(
            &p,
            r#"{"images":[],"categories":[],"annotations":[{"image_id":1,"category_id":0,"bbox":[0,0,1,1]}]}"#,
        )
        .unwrap();
        assert!(read_coco(&p).unwrap_err().to_string().contains("unknown image id 1"));
    }

    #[test]
    fn palette_masks_give_indices() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.png");
        let file = std::fs::File::create(&p).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 3, 2);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0u8, 0, 0, 128, 0, 0, 0, 128, 0]);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0, 1, 2, 2, 1, 0]).unwrap();
        drop(w);
        let m = read_mask_png(&p).unwrap();
        assert_eq!((m.width, m.height, m.data), (3, 2, vec![0, 1, 2, 2, 1, 0]));
        std::fs::write(&p, b"not a png").unwrap();
        assert!(read_mask_png(&p).unwrap_err().to_string().contains("not a PNG mask"));
    }
}
